"""Running the pipeline on the running Airflow, through its REST API: trigger the landing DAGs, follow
them, then follow the warehouse runs their raw Asset events start (or start one when asked), and tell
how they went."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from kho.operations.airflow_api import Airflow, AirflowApiError
from kho.settings import Settings, settings

WAREHOUSE = "warehouse"
ACTIVE = {"queued", "running"}


def _runs(dag_id: str, s: Settings) -> list[dict]:
    try:
        return Airflow(s).runs(dag_id, limit=1)
    except AirflowApiError as exc:
        if "HTTP 404" in str(exc):
            return []
        raise


def last_run_state(dag_id: str, s: Settings) -> tuple[str, list[str]]:
    """State of the DAG's latest run and the ids of its failed tasks ("missing" if it never ran)."""
    runs = _runs(dag_id, s)
    if not runs:
        return "missing", []
    tasks = Airflow(s).tasks(dag_id, runs[0]["dag_run_id"])
    failed = sorted(t for t, state in tasks.items() if state in ("failed", "upstream_failed"))
    return runs[0]["state"], failed


def landing_tasks(dag_id: str, s: Settings, since: datetime) -> dict[str, str | None]:
    """Task states of the landing run since ``since`` that landed (the inbox watcher's or a triggered one:
    whichever took the delivery, the other found nothing new), else of the latest run."""
    api = Airflow(s)
    runs = [r for r in _runs_many(dag_id, s) if _when(r) >= since]
    for run in runs:
        tasks = api.tasks(dag_id, run["dag_run_id"])
        if tasks.get("land") == "success":
            return tasks
    return api.tasks(dag_id, runs[0]["dag_run_id"]) if runs else {}


def _when(run: dict) -> datetime:
    return datetime.fromisoformat(run["run_after"].replace("Z", "+00:00"))


def last_run_tasks(dag_id: str, s: Settings) -> dict[str, str | None]:
    """Task id -> state in the DAG's latest run; empty if it never ran."""
    runs = _runs(dag_id, s)
    return Airflow(s).tasks(dag_id, runs[0]["dag_run_id"]) if runs else {}


def _verdict(dag_id: str, ok: bool, why: str, failed: list[str], s: Settings) -> str:
    """One line per DAG run: succeeded, or FAILED with why, its failed tasks and where to look."""
    return (
        f"  {dag_id}: {'succeeded' if ok else f'FAILED ({why})'}"
        + (f"; failed tasks: {', '.join(failed)}" if failed else "")
        + ("" if ok else f"; logs: Airflow UI {s.airflow_api_url}/dags/{dag_id}")
    )


def _follow(
    api: Airflow, dag_id: str, run_id: str, s: Settings, echo: Callable[[str], None]
) -> tuple[bool, dict]:
    run = api.wait(dag_id, run_id)
    tasks = api.tasks(dag_id, run_id)
    failed = sorted(t for t, state in tasks.items() if state in ("failed", "upstream_failed"))
    ok = run["state"] == "success"
    echo(_verdict(dag_id, ok, f"state {run['state']}", failed, s))
    return ok, tasks


def raw_changed_since_last_build(s: Settings) -> bool:
    """Has any delivery landed (by a DAG, `kho land` or a backfill) since the last successful warehouse run?"""
    runs = [r for r in _runs_many(WAREHOUSE, s) if r["state"] == "success"]
    with psycopg.connect(s.warehouse_url) as conn:
        last_landed = conn.execute(
            "select max(finished_at) from kho_meta.loads where status = 'landed'"
        ).fetchone()[0]
    if last_landed is None:
        return False
    if not runs:
        return True
    built = datetime.fromisoformat(runs[0]["start_date"].replace("Z", "+00:00"))
    return last_landed > built


def _runs_many(dag_id: str, s: Settings) -> list[dict]:
    try:
        return Airflow(s).runs(dag_id, limit=50)
    except AirflowApiError as exc:
        if "HTTP 404" in str(exc):
            return []
        raise


def _warehouse_runs_since(api: Airflow, since: datetime) -> list[dict]:
    return [
        r
        for r in api.runs(WAREHOUSE, limit=20)
        if datetime.fromisoformat(r["run_after"].replace("Z", "+00:00")) >= since
    ]


def run_pipeline(
    dataset_ids: list[str],
    s: Settings | None = None,
    echo: Callable[[str], None] = print,
    force: bool = False,
    settle_s: float = 90.0,
) -> bool:
    """A run of each dataset's landing DAG on the running scheduler, then the warehouse runs their raw Asset
    events start, followed until they end. The warehouse also runs when raw data changed since its last
    successful run (a delivery landed by `kho land`), when it never succeeded, or when ``force``."""
    s = s or settings()
    api = Airflow(s)
    since = datetime.now(UTC)
    echo(f"airflow: a run of each of {len(dataset_ids)} landing DAGs ...")
    started = {f"land__{ds_id}": api.trigger(f"land__{ds_id}") for ds_id in dataset_ids}
    ok, landed = True, False
    for dag_id, run_id in started.items():
        succeeded, tasks = _follow(api, dag_id, run_id, s, echo)
        ok &= succeeded
        landed |= tasks.get("land") == "success"
    last = _runs_many(WAREHOUSE, s)
    if not landed and (force or not last or last[0]["state"] != "success" or raw_changed_since_last_build(s)):
        echo("airflow: a warehouse run ...")
        api.trigger(WAREHOUSE)
    elif not landed:
        echo("warehouse: up to date (no new delivery landed, last run succeeded)")
        return ok
    # Follow every warehouse run the new raw data started until none is queued or running.
    deadline = time.monotonic() + settle_s
    followed: set[str] = set()
    while True:
        runs = _warehouse_runs_since(api, since)
        pending = [r for r in runs if r["dag_run_id"] not in followed]
        if pending:
            for r in sorted(pending, key=lambda r: r["run_after"]):
                echo(f"airflow: warehouse run {r['dag_run_id']} ...")
                succeeded, _ = _follow(api, WAREHOUSE, r["dag_run_id"], s, echo)
                followed.add(r["dag_run_id"])
                ok &= succeeded
            deadline = time.monotonic() + 5  # a run just ended: wait briefly for one more it queued
            continue
        if followed and time.monotonic() > deadline:
            return ok
        if not followed and time.monotonic() > deadline:
            echo("  warehouse: FAILED (no run started; is the scheduler up? `kho status`)")
            return False
        time.sleep(1)
