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


def _runs(dag_id: str, s: Settings, limit: int = 1) -> list[dict]:
    """The DAG's latest runs, newest first; none if Airflow does not know the DAG (yet)."""
    try:
        return Airflow(s).runs(dag_id, limit=limit)
    except AirflowApiError as exc:
        if exc.status == 404:
            return []
        raise


def landing_tasks(dag_id: str, s: Settings, since: datetime) -> dict[str, str | None]:
    """Task states of the landing run since ``since`` that landed (the inbox watcher's or a triggered one:
    whichever took the delivery, the other found nothing new), else of the latest run."""
    api = Airflow(s)
    # when each run started, not its logical date: a pulled source's scheduled run is dated its interval
    runs = [r for r in _runs(dag_id, s, limit=20) if _started(r) >= since]
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
    """Follow a run until it ends, or until it waits for a person (a data steward's approval: a task
    awaiting input), which is no failure: the run goes on once the steward answers in Airflow's UI."""
    for_a_person: list[str] = []  # why the run stopped being followed

    def waits_for_a_person(run: dict) -> bool:
        tasks = api.tasks(dag_id, run_id)
        waiting = sorted(t for t, state in tasks.items() if state == "awaiting_input")
        if waiting:
            for_a_person.append(
                f"waiting for a data steward's approval ({', '.join(waiting)}): Airflow UI "
                f"{s.airflow_api_url}/dags/{dag_id}/runs/{run_id}/tasks/{waiting[0]}/required_actions"
            )
        elif run["state"] == "queued" and _behind_a_waiting_run(api, dag_id, run_id):
            for_a_person.append("queued behind a run waiting for a data steward's approval (`kho status`)")
        return bool(for_a_person)

    run = api.wait(dag_id, run_id, poll=1.5, until=waits_for_a_person)
    if for_a_person:
        echo(f"  {dag_id}: {for_a_person[0]}")
        return True, api.tasks(dag_id, run_id)
    tasks = api.tasks(dag_id, run_id)
    failed = sorted(t for t, state in tasks.items() if state in ("failed", "upstream_failed"))
    ok = run["state"] == "success"
    echo(_verdict(dag_id, ok, f"state {run['state']}", failed, s))
    return ok, tasks


def _behind_a_waiting_run(api: Airflow, dag_id: str, run_id: str) -> bool:
    """Is another run of the DAG waiting for a person (the DAG runs one at a time)?"""
    for other in api.runs(dag_id, limit=5):
        if other["dag_run_id"] != run_id and other["state"] == "running":
            if "awaiting_input" in api.tasks(dag_id, other["dag_run_id"]).values():
                return True
    return False


def warehouse_dag(dataset_id: str) -> str:
    return f"{WAREHOUSE}__{dataset_id}"


def needs_build(dataset_id: str, s: Settings) -> str | None:
    """Why the dataset's warehouse DAG should run though nothing landed just now (a delivery landed by
    `kho land` or a backfill since its last successful build, or it never succeeded); None if up to date."""
    runs = _runs(warehouse_dag(dataset_id), s, limit=20)
    done = [r for r in runs if r["state"] == "success"]
    with psycopg.connect(s.warehouse_url) as conn:
        last_landed = conn.execute(
            "select max(finished_at) from kho_meta.loads where dataset = %s and status = 'landed'",
            [dataset_id],
        ).fetchone()[0]
    if not done:
        return "never built" if last_landed is not None or not runs else f"last run {runs[0]['state']}"
    if runs[0]["state"] == "failed":
        return "its last run failed"
    if last_landed is not None and last_landed > _started(done[0]):
        return "raw data changed since its last build"
    return None


def _started(run: dict) -> datetime:
    return datetime.fromisoformat((run.get("start_date") or run["run_after"]).replace("Z", "+00:00"))


def run_pipeline(
    dataset_ids: list[str],
    s: Settings | None = None,
    echo: Callable[[str], None] = print,
    force: bool = False,
    settle_s: float = 90.0,
) -> bool:
    """A run of each dataset's landing DAG on the running scheduler, then the dataset's warehouse runs (the
    one its raw Asset event starts when something landed, or one started here when its raw data changed
    since its last successful build, it never succeeded, or ``force``), followed until they end."""
    s = s or settings()
    api = Airflow(s)
    since = datetime.now(UTC)
    echo(f"airflow: a run of each of {len(dataset_ids)} landing DAGs ...")
    started = {ds_id: api.trigger(f"land__{ds_id}") for ds_id in dataset_ids}
    ok = True
    expected: dict[str, float] = {}  # dataset -> when to give up waiting for its warehouse run to appear
    for ds_id, run_id in started.items():
        succeeded, tasks = _follow(api, f"land__{ds_id}", run_id, s, echo)
        ok &= succeeded
        runs = _runs(warehouse_dag(ds_id), s, limit=20)
        active = [r for r in runs if r["state"] in ACTIVE or _when(r) >= since]
        if tasks.get("land") == "success" or active:
            expected[ds_id] = time.monotonic() + settle_s  # its asset event starts (or started) one
            continue
        why = "forced" if force else needs_build(ds_id, s)
        if why is None:
            echo(f"  {warehouse_dag(ds_id)}: up to date (nothing new landed, last build succeeded)")
            continue
        echo(f"airflow: a run of {warehouse_dag(ds_id)} ({why}) ...")
        api.trigger(warehouse_dag(ds_id))
        expected[ds_id] = time.monotonic() + settle_s
    # Follow each expected dataset's warehouse runs (those active, or started since `since`) until they end.
    followed: set[tuple[str, str]] = set()
    seen: set[str] = set()
    while expected:
        progressed = False
        for ds_id in list(expected):
            dag_id = warehouse_dag(ds_id)
            runs = [r for r in _runs(dag_id, s, limit=20) if r["state"] in ACTIVE or _when(r) >= since]
            pending = [r for r in runs if (ds_id, r["dag_run_id"]) not in followed]
            for r in sorted(pending, key=lambda r: r["run_after"]):
                succeeded, _ = _follow(api, dag_id, r["dag_run_id"], s, echo)
                followed.add((ds_id, r["dag_run_id"]))
                seen.add(ds_id)
                ok &= succeeded
                progressed = True
            if not pending and ds_id in seen:
                del expected[ds_id]  # its runs ended and no other is queued
            elif not pending and time.monotonic() > expected[ds_id]:
                echo(f"  {dag_id}: FAILED (no run started; is the scheduler up? `kho status`)")
                ok = False
                del expected[ds_id]
        if expected and not progressed:
            time.sleep(1)
    return ok
