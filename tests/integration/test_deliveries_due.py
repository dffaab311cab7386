"""The update frequency is a deadline: a dataset whose last delivery is older than its frequency allows is
overdue in `kho status` and in the check the daily ``deliveries_due`` DAG runs; its failure is an alert."""

from __future__ import annotations

import os
import stat
from datetime import timedelta

from kho.catalog import catalog
from kho.landing.land import land_file
from kho.operations.status import MAX_AGE, dataset_status, overdue
from kho.settings import REPO

CROPS = catalog().dataset("crop_statistics")  # yearly
SAMPLE = REPO / "samples" / "crop_statistics" / "planted_area_maize.csv"


def last_landed(warehouse):
    return warehouse.execute(
        "select max(finished_at) from kho_meta.loads where dataset = %s and status = 'landed'", [CROPS.id]
    ).fetchone()[0]


def test_a_delivery_older_than_its_frequency_is_overdue(stack, warehouse):
    s, _ = stack
    if last_landed(warehouse) is None:
        assert land_file(CROPS.id, SAMPLE, s=s).status in ("landed", "skipped")
    landed = last_landed(warehouse)
    allowed = MAX_AGE[CROPS.update_frequency]
    on_time = overdue(s, now=landed + allowed - timedelta(days=1))
    assert not [line for line in on_time if line.startswith(f"{CROPS.id}:")]
    late = [
        line
        for line in overdue(s, now=landed + allowed + timedelta(days=1))
        if line.startswith(f"{CROPS.id}:")
    ]
    assert late == [
        f"{CROPS.id}: delivery overdue since {landed + allowed:%Y-%m-%d} (last landed {landed:%Y-%m-%d}, "
        f"expected yearly; agency {CROPS.agency})"
    ]
    # today it was just delivered: kho status says fresh
    status = {r.dataset: r for r in dataset_status(s)}[CROPS.id]
    assert status.freshness == "fresh (yearly)"


def test_an_alert_is_a_line_in_the_owners_alert_log(stack):
    s, _ = stack
    from flow.alerts import AlertLog

    class Ti:
        dag_id, task_id = "deliveries_due", "overdue_deliveries"

    AlertLog("deliveries overdue").notify(
        {"ti": Ti(), "exception": "crop_statistics: delivery overdue\nx: y"}
    )
    log = s.log_dir / "alerts.log"
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    last = log.read_text(encoding="utf-8").splitlines()[-1]
    assert last.endswith(
        "deliveries_due.overdue_deliveries: deliveries overdue: crop_statistics: delivery overdue | x: y"
    )
