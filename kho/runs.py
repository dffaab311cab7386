"""Running the pipeline as real Airflow DAG runs, one DAG after the other, and telling how they went."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from kho import airflow
from kho.settings import Settings, settings


def last_run_state(dag_id: str, s: Settings) -> tuple[str, list[str]]:
    """State of the DAG's latest run and the ids of its failed tasks (from Airflow's metadata DB)."""
    with sqlite3.connect(s.airflow_home / "airflow.db") as db:
        row = db.execute(
            "select run_id, state from dag_run where dag_id = ? order by id desc limit 1", [dag_id]
        ).fetchone()
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


def run_dag(dag_id: str, s: Settings | None = None, echo: Callable[[str], None] = print) -> bool:
    s = s or settings()
    log = s.log_dir / f"airflow-{dag_id}.log"
    echo(f"airflow dags test {dag_id} ...")
    proc = airflow.dags_test(dag_id, s=s, log=log)
    state, failed = last_run_state(dag_id, s)
    ok = proc.returncode == 0 and state == "success"
    verdict = "succeeded" if ok else f"FAILED (state {state}, exit {proc.returncode})"
    echo(
        f"  {dag_id}: {verdict}"
        + (f"; failed tasks: {', '.join(failed)}" if failed else "")
        + ("" if ok else f"; log: {log}")
    )
    return ok


def run_pipeline(
    dataset_ids: list[str], s: Settings | None = None, echo: Callable[[str], None] = print
) -> bool:
    """Ingest DAG of each dataset, then the warehouse DAG (which the raw Assets schedule in production)."""
    s = s or settings()
    airflow.migrate(s)
    ok = True
    for ds_id in dataset_ids:
        ok &= run_dag(f"ingest__{ds_id}", s, echo)
    ok &= run_dag("warehouse", s, echo)
    return ok
