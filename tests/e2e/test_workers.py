"""The distributed path, run: the e2e package's Airflow uses the CeleryExecutor with Kho's Redis as broker and
two worker processes (tests/e2e/conftest.py), as docker-compose.yml's does. The shared pipeline run's tasks
ran on both workers; a worker killed with SIGKILL in the middle of a landing leaves the delivery in the
inbox, and the retry on the other worker lands it once, whole: no duplicate and no missing row."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from datetime import UTC, datetime

import pytest
from psycopg import sql

from bench.operated import heritage_delivery
from kho.catalog import catalog
from kho.operations import supervisor
from kho.operations.airflow_api import Airflow
from kho.operations.runs import warehouse_dag

pytestmark = pytest.mark.e2e

HERITAGE = catalog().dataset("intangible_heritage")
ROWS = 300_000  # large enough that its landing takes seconds: time to kill the worker running it


def worker_of(hostname: str | None) -> str | None:
    """The supervised program of the Celery worker a task instance ran on (``kho-worker-N@host``)."""
    if hostname and hostname.startswith("kho-worker-"):
        return "airflow-worker-" + hostname.split("@")[0].removeprefix("kho-worker-")
    return None


def test_the_pipelines_tasks_ran_on_both_workers(pipeline):
    api = Airflow(pipeline.s)
    workers = set()
    for ds_id in catalog().datasets:
        for dag_id in (f"land__{ds_id}", warehouse_dag(ds_id)):
            for run in api.runs(dag_id, limit=5):
                workers |= {
                    worker_of(t.get("hostname")) for t in api.task_instances(dag_id, run["dag_run_id"])
                }
    assert {"airflow-worker-1", "airflow-worker-2"} <= workers, workers


def big_delivery() -> bytes:
    """The culture department's whole list, grown to ``ROWS`` elements (each its own id)."""
    return heritage_delivery(ROWS, edition=99)


def running_landing(api: Airflow, since: datetime, deadline_s: float = 600) -> tuple[str, dict]:
    """The landing run the delivery started, once its land task runs on a worker: (run id, task instance)."""
    dag_id = f"land__{HERITAGE.id}"
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for run in api.runs(dag_id, limit=5):
            if datetime.fromisoformat(run["run_after"].replace("Z", "+00:00")) < since:
                continue
            land = next(t for t in api.task_instances(dag_id, run["dag_run_id"]) if t["task_id"] == "land")
            if land["state"] == "running" and worker_of(land.get("hostname")):
                return run["dag_run_id"], land
        time.sleep(0.5)
    raise AssertionError("the big delivery's landing never ran on a Celery worker")


def test_a_worker_killed_mid_landing_the_delivery_lands_once_on_the_other(pipeline, warehouse):
    s = pipeline.s
    api = Airflow(s)
    data = big_delivery()
    sha = hashlib.sha256(data).hexdigest()
    warehouse.execute("delete from kho_meta.loads where file_sha256 = %s", [sha])
    api.pause(warehouse_dag(HERITAGE.id))  # the landing is judged here; the test rows never reach the mart
    inbox = s.inbox_dir / HERITAGE.id
    since = datetime.now(UTC)
    part = inbox / "kiem_thu_lon.csv.part"  # the rule: written under a temporary name, then renamed
    part.write_bytes(data)
    part.rename(inbox / "kiem_thu_lon.csv")
    run_id, land = running_landing(api, since)
    victim = worker_of(land["hostname"])
    survivor = ({"airflow-worker-1", "airflow-worker-2"} - {victim}).pop()
    pid = supervisor.pid(s, victim)
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)  # the worker and the task process it was running
        supervisor.stop(s, victim)  # kept down, so that the retry runs on the other worker
        finished = api.wait(f"land__{HERITAGE.id}", run_id, timeout=900)
        tries = {t["task_id"]: t for t in api.task_instances(f"land__{HERITAGE.id}", run_id)}
        assert finished["state"] == "success", tries
        assert tries["land"]["try_number"] >= 2 and worker_of(tries["land"]["hostname"]) == survivor
        loads = warehouse.execute(
            "select load_id, status, rows_delivered, rows_landed, rows_quarantined from kho_meta.loads"
            " where file_sha256 = %s",
            [sha],
        ).fetchall()
        assert [row[1:] for row in loads] == [("landed", ROWS, ROWS, 0)]
        raw = sql.Identifier(HERITAGE.raw_schema, HERITAGE.raw_table)
        count = sql.SQL("select count(*), count(distinct element_id) from {} where _load_id = %s").format(raw)
        assert warehouse.execute(count, [loads[0][0]]).fetchone() == (ROWS, ROWS)
        assert not (inbox / "kiem_thu_lon.csv").exists()
    finally:
        supervisor.start(s, victim)
        for (load_id,) in warehouse.execute(
            "select load_id from kho_meta.loads where file_sha256 = %s", [sha]
        ):
            warehouse.execute(
                sql.SQL("delete from {} where _load_id = %s").format(
                    sql.Identifier(HERITAGE.raw_schema, HERITAGE.raw_table)
                ),
                [load_id],
            )
        warehouse.execute("delete from kho_meta.loads where file_sha256 = %s", [sha])
        api.pause(warehouse_dag(HERITAGE.id), paused=False)
