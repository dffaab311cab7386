"""Kho runs itself: with Airflow's services up (the e2e package starts them), a delivery dropped into an
inbox is taken by the triggerer's watcher and landed with no one triggering anything, a file still being
written is not taken until it is whole, a scheduler killed with SIGKILL is restarted by supervisord and the
next delivery lands, and a delivery landed by hand (`kho land`) reaches the warehouse."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest

from kho.operations import supervisor
from kho.operations.airflow_api import Airflow
from kho.settings import REPO

pytestmark = pytest.mark.e2e

DATASET = "crop_statistics"
SAMPLE = REPO / "samples" / DATASET / "planted_area_maize.csv"
DAG = f"land__{DATASET}"


def delivery(n: int) -> bytes:
    """The maize sample as a new delivery (a new sha256: ``n`` blank lines at its end), same figures."""
    return SAMPLE.read_bytes() + b"\n" * n


def forget(warehouse, data: bytes) -> str:
    """Let the delivery land again when the suite runs again on the same warehouse; its sha256."""
    sha = hashlib.sha256(data).hexdigest()
    warehouse.execute("delete from kho_meta.loads where file_sha256 = %s", [sha])
    return sha


def sample_rows(warehouse) -> int:
    """Rows the sample delivered when the shared pipeline run landed it."""
    return warehouse.execute(
        "select rows_delivered from kho_meta.loads where dataset = %s and source_file = %s"
        " and status = 'landed' order by finished_at desc limit 1",
        [DATASET, SAMPLE.name],
    ).fetchone()[0]


def landed_by_itself(api: Airflow, warehouse, sha: str, since: datetime, deadline_s: float = 600) -> dict:
    """Wait for the load of ``sha`` by a landing run nobody triggered (started by the inbox watcher)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        runs = [
            r
            for r in api.runs(DAG, limit=10)
            if datetime.fromisoformat(r["run_after"].replace("Z", "+00:00")) >= since
        ]
        for run in runs:
            api.wait(DAG, run["dag_run_id"])
        load = warehouse.execute(
            "select status, rows_delivered from kho_meta.loads where file_sha256 = %s", [sha]
        ).fetchone()
        if load:
            assert all(r["run_type"] == "asset_triggered" for r in runs), runs
            return {"status": load[0], "rows": load[1], "runs": runs}
        time.sleep(2)
    raise AssertionError(f"{sha[:12]}: not landed by the watcher within {deadline_s:.0f} s")


def test_a_file_written_slowly_lands_whole_and_by_itself(pipeline, warehouse):
    s = pipeline.s
    data = delivery(1)
    sha = forget(warehouse, data)
    since = datetime.now(UTC)
    path = s.inbox_dir / DATASET / "maize_copied_slowly.csv"
    with path.open("wb") as f:  # as a slow copy over a network share writes it, over about six seconds
        for start in range(0, len(data), len(data) // 12 + 1):
            f.write(data[start : start + len(data) // 12 + 1])
            f.flush()
            time.sleep(0.5)
    found = landed_by_itself(Airflow(s), warehouse, sha, since)
    assert (found["status"], found["rows"]) == ("landed", sample_rows(warehouse))
    assert not path.exists()  # taken from the inbox, kept in the archive


def test_a_killed_scheduler_comes_back_and_the_next_delivery_lands(pipeline, warehouse):
    s = pipeline.s
    killed = supervisor.pid(s, "airflow-scheduler")
    assert killed, supervisor.status(s)
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pid = supervisor.pid(s, "airflow-scheduler")
        if pid and pid != killed and supervisor.status(s).get("airflow-scheduler") == "RUNNING":
            break
        time.sleep(1)
    else:
        raise AssertionError(f"the scheduler was not restarted: {supervisor.status(s)}")
    data = delivery(2)
    sha = forget(warehouse, data)
    since = datetime.now(UTC)
    part = s.inbox_dir / DATASET / "maize_after_restart.csv.part"
    part.write_bytes(data)  # written under a temporary name, then renamed: the rule for connectors
    part.rename(part.with_suffix(""))
    found = landed_by_itself(Airflow(s), warehouse, sha, since)
    assert (found["status"], found["rows"]) == ("landed", sample_rows(warehouse))


def test_a_delivery_landed_by_hand_reaches_the_warehouse(pipeline, warehouse, tmp_path):
    """`kho land` tells Airflow the raw data changed; a warehouse run that starts after the load committed
    builds it. (While a run of the DAG is queued or running, Airflow folds a new event into the next run it
    already has pending: that run, not a new one, is the one that builds the delivery.)"""
    s = pipeline.s
    data = delivery(3)
    sha = forget(warehouse, data)
    path = tmp_path / "maize_by_hand.csv"
    path.write_bytes(data)
    api = Airflow(s)
    kho = REPO / ".kho" / "venvs" / "main" / "bin" / "kho"
    result = subprocess.run(
        [str(kho), "land", DATASET, str(path)], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr
    assert "Airflow was told" in result.stdout
    (committed,) = warehouse.execute(
        "select finished_at from kho_meta.loads where file_sha256 = %s and status = 'landed'", [sha]
    ).fetchone()
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        after = [
            r
            for r in api.runs(f"warehouse__{DATASET}", limit=10)
            if r.get("start_date")
            and datetime.fromisoformat(r["start_date"].replace("Z", "+00:00")) >= committed
        ]
        if after:
            finished = api.wait(f"warehouse__{DATASET}", after[-1]["dag_run_id"])
            assert finished["state"] == "success"
            assert finished["run_type"] == "asset_triggered"  # started by the raw Asset, not by hand
            return
        time.sleep(2)
    raise AssertionError("no warehouse run started after the delivery landed by hand")
