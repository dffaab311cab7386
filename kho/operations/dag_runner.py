"""Run several DAGs of one file, one real run each, in one process: ``python -m kho.operations.dag_runner
FILE DAG...``, as ``airflow dags test`` would each, but with Airflow started, the file parsed and the tasks'
modules imported once for all of them (why: bench/README.md, benchmark 4). Prints one
``=== <dag>: <state> ===`` line per DAG and the start-up time.
"""

from __future__ import annotations

import ast
import importlib
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
    for module in _task_imports(dag_file):
        importlib.import_module(module)

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


def _task_imports(dag_file: str) -> list[str]:
    """The modules the DAG file's tasks import inside their functions (the file keeps them out of parsing)."""
    tree = ast.parse(Path(dag_file).read_text(encoding="utf-8"))
    found = []
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.append(node.module)
                elif isinstance(node, ast.Import):
                    found += [a.name for a in node.names]
    return sorted(set(found))


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
