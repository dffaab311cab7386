"""A data steward approves what the rules cannot decide (dti_scores: ``publish.approval: steward``). Its
clean samples went out without waiting in the shared pipeline run; then a delivery whose commune DTI is off
its pillars' mean (a warning) waits in Airflow for the steward, who rejects it through Airflow's REST API
(what the UI's Required Actions page calls): it stays landed, unpublished. The next delivery with a warning
waits too, is approved, and is published with its new figure; the provenance names who approved it.

Rejection first, approval last: the dataset's last warehouse run ends with everything succeeded, as
tests/e2e/test_portal_telecom.py expects when it runs the pipeline again."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kho.operations.airflow_api import Airflow
from kho.settings import REPO

pytestmark = pytest.mark.e2e

DATASET = "dti_scores"
DAG = f"warehouse__{DATASET}"
TASK = "steward_approval"
SAMPLE = REPO / "samples" / DATASET / "chi_so_dti_2024.csv"
# Phường Phan Thiết 2024: pillars 0.6080, 0.5659, 0.6546 (mean 0.6095), DTI 0.6159 as delivered
ROW = "Phường Phan Thiết,0.6080,0.5659,0.6546,0.6159"
KHO = REPO / ".kho" / "venvs" / "main" / "bin" / "kho"


def land(tmp_path, warehouse, dti: str) -> str:
    """`kho land` a 2024 delivery where Phan Thiết's DTI is ``dti`` (0.015 to 0.03 from its pillars' mean: a
    warning, not a critical failure); Airflow is told, which starts the warehouse run. Its load id."""
    text = SAMPLE.read_text(encoding="utf-8")
    assert ROW in text
    data = text.replace(ROW, ROW.replace("0.6159", dti)).encode()
    warehouse.execute("delete from kho_meta.loads where file_sha256 = %s", [hashlib.sha256(data).hexdigest()])
    path = tmp_path / f"chi_so_dti_2024_{dti}.csv"
    path.write_bytes(data)
    result = subprocess.run(
        [str(KHO), "land", DATASET, str(path)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert "Airflow was told" in result.stdout
    (load_id,) = warehouse.execute(
        "select load_id from kho_meta.loads where dataset = %s and status = 'landed'"
        " order by finished_at desc limit 1",
        [DATASET],
    ).fetchone()
    return load_id


def waiting_run(api: Airflow, since: datetime, deadline_s: float = 900) -> tuple[str, dict]:
    """The warehouse run started after ``since`` once it waits for the steward: its id and open request."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for run in api.runs(DAG, limit=5):
            started = run.get("start_date")
            if not started or datetime.fromisoformat(started.replace("Z", "+00:00")) < since:
                continue
            assert run["state"] != "failed", api.tasks(DAG, run["dag_run_id"])
            tasks = api.tasks(DAG, run["dag_run_id"])
            assert tasks.get("publish") not in ("success", "skipped"), f"published without waiting: {tasks}"
            if tasks.get(TASK) == "awaiting_input":
                (request,) = [r for r in api.awaiting_input(TASK) if r["task_instance"]["dag_id"] == DAG]
                return run["dag_run_id"], request
        time.sleep(3)
    raise AssertionError(f"{DAG}: no run waited for the steward within {deadline_s:.0f} s")


def status_of(dataset: str) -> dict:
    result = subprocess.run([str(KHO), "status", "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return next(r for r in json.loads(result.stdout) if r["dataset"] == dataset)


def published_dti(ckan, unit: str = "Phường Phan Thiết", year: int = 2024) -> Decimal:
    pkg = ckan.action.package_show(id=DATASET.replace("_", "-"))
    (table,) = [r for r in pkg["resources"] if r.get("datastore_active") and not r.get("kho_kpi")]
    found = ckan.action.datastore_search(resource_id=table["id"], filters={"unit_name": unit, "year": year})
    (row,) = found["records"]
    return Decimal(str(row["dti"]))


def decisions(warehouse) -> list[tuple]:
    return warehouse.execute(
        "select decision, responded_by, load_ids from kho_meta.approvals where dataset = %s order by id",
        [DATASET],
    ).fetchall()


def test_clean_samples_are_published_without_waiting(pipeline, warehouse):
    pipeline.assert_succeeded([DATASET])  # steward_approval and publish succeeded: no one was asked
    assert {d for d, *_ in decisions(warehouse)} == {"not needed"}  # one per warehouse run that landed any


def test_a_rejected_delivery_stays_landed_and_unpublished(pipeline, warehouse, ckan_anonymous, tmp_path):
    api = Airflow(pipeline.s)
    before = published_dti(ckan_anonymous)
    since = datetime.now(UTC)
    load_id = land(tmp_path, warehouse, "0.6290")
    run_id, request = waiting_run(api, since)
    assert "0.015" in request["body"] and load_id in request["body"]  # the finding, the delivery
    assert request["body"].index("Cảnh báo") < request["body"].index("Findings")
    assert status_of(DATASET)["approval"].startswith("waiting for approval since ")

    api.respond(DAG, run_id, TASK, ["Reject"])
    assert api.wait(DAG, run_id, timeout=600)["state"] == "success"
    assert api.tasks(DAG, run_id)["publish"] == "skipped"
    assert published_dti(ckan_anonymous) == before  # not published
    (landed,) = warehouse.execute(
        "select status from kho_meta.loads where load_id = %s", [load_id]
    ).fetchone()
    assert landed == "landed"
    assert decisions(warehouse)[-1] == ("rejected", "kho_admin", [load_id])
    row = status_of(DATASET)
    assert row["approval"].startswith("rejected by kho_admin ")
    assert "not published" in row["published"]


def test_an_approved_delivery_is_published_with_its_new_figure(pipeline, warehouse, ckan_anonymous, tmp_path):
    api = Airflow(pipeline.s)
    since = datetime.now(UTC)
    load_id = land(tmp_path, warehouse, "0.6310")
    run_id, request = waiting_run(api, since)
    assert load_id in request["body"]

    api.respond(DAG, run_id, TASK, ["Approve"])
    assert api.wait(DAG, run_id, timeout=900)["state"] == "success"
    assert set(api.tasks(DAG, run_id).values()) == {"success"}
    assert published_dti(ckan_anonymous) == Decimal("0.6310")
    decision, by, loads = decisions(warehouse)[-1]
    assert (decision, by) == ("approved", "kho_admin") and load_id in loads  # with the rejected one before it
    provenance = ckan_anonymous.action.package_show(id=DATASET.replace("_", "-"))["provenance"]
    (line,) = [x for x in provenance.splitlines() if x.startswith(f"- {load_id}:")]
    assert "approved by kho_admin" in line
    assert status_of(DATASET)["approval"].startswith("approved by kho_admin ")
