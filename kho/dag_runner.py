"""Run several DAGs of one file, one real run each, in one process: ``python -m kho.dag_runner FILE DAG...``.

Each run is what ``airflow dags test DAG`` makes (the file parsed into a DAG bag and synced to Airflow's
database, then ``dag.test()``: scheduler logic, task SDK, XComs, asset events), but Airflow is imported,
the file parsed, Airflow's in-process execution API started and Kho's task modules imported once for all
of them, not once per DAG: that start is most of the time of a run that finds nothing new to land (about
10 s here, against 0.3-0.5 s for the run itself). Started by :func:`kho.airflow.dags_test_many` with Kho's Airflow
environment; prints one ``=== <dag>: <state> ===`` line per DAG and the start-up time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    dag_file, dag_ids = str(Path(argv[0]).resolve()), argv[1:]
    from airflow.sdk import timezone

    dags = _parse(dag_file)
    _start_execution_api()
    # What the tasks import when they run (a worker process has it loaded once, not per run).
    import kho.connectors  # noqa: F401
    import kho.pipeline  # noqa: F401

    print(f"=== airflow started in {time.perf_counter() - started:.1f} s ===", flush=True)
    failed = 0
    for dag_id in dag_ids:
        state = "error"
        if dag_id in dags:
            try:
                run = dags[dag_id].test(logical_date=timezone.utcnow())
                state = str(run.state) if run else "missing"
            except Exception as exc:  # one DAG's failure to run must not keep the others from running
                print(f"{dag_id}: could not run: {exc!r}", flush=True)
        print(f"=== {dag_id}: {state} ===", flush=True)
        failed += state != "success"
    return 1 if failed else 0


def _parse(dag_file: str) -> dict:
    """The file's DAGs, synced to Airflow's database, as ``airflow dags test`` finds a DAG (but once)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        bag = BundleDagBag(dag_folder=dag_file, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)
        for path, error in bag.import_errors.items():
            print(f"{path}: could not be parsed: {error}", flush=True)
        if bag.dags:
            return bag.dags
    return {}


def _start_execution_api() -> None:
    """Start Airflow's in-process execution API (which every task of a test run talks to) with a health
    check, so that its start-up is paid here once, not inside the first DAG's run."""
    import httpx
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    api = in_process_api_server()
    with httpx.Client(transport=api.transport, base_url="http://in-process.invalid") as client:
        client.get("/health").raise_for_status()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
