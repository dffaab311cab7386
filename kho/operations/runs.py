"""Running the pipeline as real Airflow DAG runs, one DAG after the other, and telling how they went."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable

from kho.operations import airflow
from kho.settings import Settings, settings


def last_run_id(dag_id: str, s: Settings) -> int | None:
    with sqlite3.connect(s.airflow_home / "airflow.db") as db:
        row = db.execute("select max(id) from dag_run where dag_id = ?", [dag_id]).fetchone()
    return row[0] if row else None


def _latest_run(db: sqlite3.Connection, dag_id: str, after: int | None = None) -> tuple[str, str] | None:
    """(run id, state) of the DAG's latest run newer than run ``after`` (by row id), if there is one."""
    return db.execute(
        "select run_id, state from dag_run where dag_id = ? and id > ? order by id desc limit 1",
        [dag_id, after or 0],
    ).fetchone()


def last_run_state(dag_id: str, s: Settings, after: int | None = None) -> tuple[str, list[str]]:
    """State of the DAG's latest run (if newer than run ``after``) and the ids of its failed tasks."""
    with sqlite3.connect(s.airflow_home / "airflow.db") as db:
        row = _latest_run(db, dag_id, after)
        if row is None:
            return "missing", []
        failed = [
            r[0]
            for r in db.execute(
                "select task_id from task_instance where dag_id = ? and run_id = ? and state in"
                " ('failed', 'upstream_failed') order by task_id",
                [dag_id, row[0]],
            )
        ]
    return row[1], failed


def last_run_tasks(dag_id: str, s: Settings) -> dict[str, str]:
    """Task id -> state in the DAG's latest run; empty if it never ran."""
    with sqlite3.connect(s.airflow_home / "airflow.db") as db:
        row = _latest_run(db, dag_id)
        if row is None:
            return {}
        query = "select task_id, state from task_instance where dag_id = ? and run_id = ?"
        return dict(db.execute(query, [dag_id, row[0]]).fetchall())


def run_dag(dag_id: str, s: Settings | None = None, echo: Callable[[str], None] = print) -> bool:
    s = s or settings()
    log = s.log_dir / f"airflow-{dag_id}.log"
    echo(f"airflow dags test {dag_id} ...")
    proc = airflow.dags_test(dag_id, s=s, log=log)
    state, failed = last_run_state(dag_id, s)
    ok = proc.returncode == 0 and state == "success"
    echo(_verdict(dag_id, ok, f"state {state}, exit {proc.returncode}", failed, log))
    return ok


def _verdict(dag_id: str, ok: bool, why: str, failed: list[str], log) -> str:
    """One line per DAG run: succeeded, or FAILED with why, its failed tasks and where its log is."""
    return (
        f"  {dag_id}: {'succeeded' if ok else f'FAILED ({why})'}"
        + (f"; failed tasks: {', '.join(failed)}" if failed else "")
        + ("" if ok else f"; log: {log}")
    )


def run_land_dags(
    dataset_ids: list[str], s: Settings | None = None, echo: Callable[[str], None] = print
) -> tuple[bool, bool]:
    """Each dataset's landing DAG, one real run each, in one Airflow process; (all succeeded, any landed)."""
    s = s or settings()
    if not dataset_ids:
        return True, False
    dag_ids = [f"land__{ds_id}" for ds_id in dataset_ids]
    log = s.log_dir / "airflow-land.log"
    echo(f"airflow: one run of each of {len(dag_ids)} landing DAGs ...")
    before = {dag_id: last_run_id(dag_id, s) for dag_id in dag_ids}
    airflow.dags_test_many(s.repo / "dags" / "kho_land.py", dag_ids, s=s, log=log)
    started = next(
        (line.strip("= \n") for line in log.open() if line.startswith("=== airflow started")), None
    )
    if started:
        echo(f"  {started}")
    ok, new_data = True, False
    for dag_id in dag_ids:
        state, failed = last_run_state(dag_id, s, after=before[dag_id])
        succeeded = state == "success"
        ok &= succeeded
        new_data |= state != "missing" and landed_new_data(dag_id, s)
        echo(_verdict(dag_id, succeeded, f"state {state}", failed, log))
    return ok, new_data


def landed_new_data(dag_id: str, s: Settings) -> bool:
    """Did the latest run of an landing DAG land something (its `land` task succeeded, not skipped)?"""
    with sqlite3.connect(s.airflow_home / "airflow.db") as db:
        row = db.execute(
            "select ti.state from task_instance ti join dag_run dr on dr.dag_id = ti.dag_id and dr.run_id = ti.run_id"
            " where ti.dag_id = ? and ti.task_id = 'land' order by dr.id desc limit 1",
            [dag_id],
        ).fetchone()
    return bool(row) and row[0] == "success"


def _warehouse_stamp(s: Settings) -> tuple[object, str]:
    """Where the last successful warehouse run is recorded, and what it should match (the dbt manifest)."""
    from kho.conforming.dbt import manifest_path

    manifest = manifest_path(s)
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.exists() else ""
    return s.home / "warehouse.manifest.sha256", digest


def run_pipeline(
    dataset_ids: list[str],
    s: Settings | None = None,
    echo: Callable[[str], None] = print,
    force: bool = False,
) -> bool:
    """Landing DAG of each dataset, then the warehouse DAG, as the raw Assets schedule it in production:
    only when a landing DAG landed new data, or the dbt project changed, or the last warehouse run failed."""
    s = s or settings()
    airflow.migrate(s)
    ok, new_data = run_land_dags(dataset_ids, s, echo)
    stamp, manifest = _warehouse_stamp(s)
    up_to_date = (
        last_run_state("warehouse", s)[0] == "success" and stamp.exists() and stamp.read_text() == manifest
    )
    if up_to_date and not new_data and not force:
        echo("warehouse: up to date (no new delivery landed, dbt project unchanged, last run succeeded)")
        return ok
    warehouse_ok = run_dag("warehouse", s, echo)
    if warehouse_ok:
        stamp.write_text(manifest)
    return ok and warehouse_ok
