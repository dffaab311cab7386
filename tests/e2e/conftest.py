"""One pipeline run for every end-to-end module, as `make demo` runs it: every dataset of the catalog starts
from nothing (raw tables, load records, marts, CKAN packages), the sample deliveries go to the inboxes
(the portal database and the tourist-site API serve the other two), then Airflow's services start (the
scheduler, the triggerer watching the inboxes, two Celery workers, ...) and `kho run`'s path triggers a landing run of each
dataset through Airflow's API and follows the warehouse runs (one DAG per dataset) the landed data start. Each module judges the
run by its own datasets' DAGs and tasks; the modules share the run. Airflow runs for the e2e package only,
so that the other tests' inboxes are not watched."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from demo import agency_api, portal_db
from demo.samples import deliver_samples
from kho.catalog import catalog
from kho.operations import airflow
from kho.operations import stack as kho_stack
from kho.operations.runs import landing_tasks, last_run_tasks, run_pipeline, warehouse_dag
from kho.settings import Settings

FAST_RECOVERY = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "5",
}


@dataclass
class PipelineRun:
    s: Settings
    ok: bool
    messages: list[str]
    # DAG id -> task id -> state, read right after the run (later runs replace "the latest run")
    states: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return "\n".join(self.messages)

    def assert_succeeded(self, dataset_ids: list[str]) -> None:
        """Each dataset's landing DAG, and its warehouse DAG (the build of its lineage, its mart's checks,
        its publication), succeeded."""
        for ds_id in dataset_ids:
            ingest = self.states[f"land__{ds_id}"]
            assert ingest and set(ingest.values()) == {"success"}, f"land__{ds_id}: {ingest}\n{self.log}"
            own = self.states[warehouse_dag(ds_id)]
            assert own and set(own.values()) == {"success"}, f"{warehouse_dag(ds_id)}: {own}\n{self.log}"


def start_from_nothing(s: Settings, warehouse, ckan) -> None:
    for ds in catalog().datasets.values():
        warehouse.execute(sql.SQL("truncate {}").format(sql.Identifier(ds.raw_schema, ds.raw_table)))
        for table in ("loads", "quarantine", "quality_runs", "publications", "approvals"):
            warehouse.execute(
                sql.SQL("delete from {} where dataset = %s").format(sql.Identifier("kho_meta", table)),
                [ds.id],
            )
        shutil.rmtree(s.inbox_dir / ds.id, ignore_errors=True)
        try:
            ckan.action.dataset_purge(id=ds.id.replace("_", "-"))
        except Exception:  # noqa: BLE001 - not there yet
            pass
    # Airflow's history of Kho's DAGs (an interrupted earlier suite may have left runs "running"), and the
    # asset events still waiting to start one: Airflow is stopped while its database is cleared
    with psycopg.connect(s.database_url(airflow.DATABASE), autocommit=True) as db:
        db.execute("delete from asset_dag_run_queue")
        db.execute("delete from dag_run where dag_id like 'land\\_\\_%' or dag_id like 'warehouse\\_\\_%'")
    # the marts too (an incremental fact would otherwise keep what an earlier run merged)
    for (table,) in warehouse.execute(
        "select tablename from pg_tables where schemaname = 'marts'"
    ).fetchall():
        warehouse.execute(sql.SQL("drop table if exists {} cascade").format(sql.Identifier("marts", table)))


@pytest.fixture(scope="package")
def pipeline(stack, warehouse, ckan) -> PipelineRun:
    s, _ = stack
    portal_db.ensure(s)
    agency_api.start(s)  # starting it twice is harmless
    kho_stack.stop_airflow(s)  # nothing scheduled while the warehouse is reset
    start_from_nothing(s, warehouse, ckan)
    datasets = sorted(catalog().datasets)
    for dataset_id in datasets:
        deliver_samples(dataset_id, s)
    since = datetime.now(UTC)
    # The production path: the CeleryExecutor, Kho's Redis as broker, two workers (tests/e2e/test_workers.py).
    # A lost worker's task is found and retried sooner than a province's default of a minute each (the
    # settings a province can change too): the kill tests wait for it.
    os.environ.update(FAST_RECOVERY)
    kho_stack.start_airflow(s, executor="celery", workers=2)
    try:
        messages: list[str] = []
        ok = run_pipeline(datasets, s, echo=messages.append)
        states = {f"land__{d}": landing_tasks(f"land__{d}", s, since) for d in datasets}
        states.update({warehouse_dag(d): last_run_tasks(warehouse_dag(d), s) for d in datasets})
        yield PipelineRun(s, ok, messages, states)
    finally:
        kho_stack.stop_airflow(s)
        for name in FAST_RECOVERY:
            os.environ.pop(name, None)
