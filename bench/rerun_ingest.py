"""Benchmark 4: re-running every ingest DAG when nothing changed, against the first run.

``kho.runs.run_pipeline`` runs each ingest DAG of the repository's catalog with ``airflow dags test`` (a
real DAG run), then the warehouse DAG. The first run finds the bundled sample deliveries in the inboxes
(copied there as ``kho demo`` does) and lands them; before the second run the same files are put back, so
every delivery is one already landed and is skipped, and the ingest DAG skips its downstream task. The
ratio compares the ingest DAGs only (second / first); the warehouse DAG is reported beside it, and each
DAG's task times come from Airflow's metadata database, which tells the work from the overhead of
starting ``airflow dags test``.

A first run has to land for real, so the benchmark brings up a Kho stack of its own (PostgreSQL, Redis,
CKAN, Airflow's database, dbt manifest and seeds; ``kho up``) in a fresh home under the benchmark's
temporary folder, on its own ports (``--stack-port-base``, default ``KHO_PORT_BASE`` + 100), and brings
it down at the end: a demo's or a developer's state is never touched. Bringing the stack up is timed
apart and not part of either run.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench import common

NUMBER = 4
TARGET = 0.10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("4: re-running the ingest DAGs")
    group.add_argument(
        "--stack-port-base",
        type=int,
        default=common.env_int("KHO_BENCH_STACK_PORT_BASE", common.env_int("KHO_PORT_BASE", 54300) + 100),
        metavar="PORT",
        help="first port of the benchmark's own Kho stack (default: KHO_PORT_BASE + 100)",
    )
    group.add_argument("--keep-stack", action="store_true", help="leave the benchmark's stack running")


def small(opts: argparse.Namespace) -> None:
    """The repository's samples are small already: the same run."""


def run(opts: argparse.Namespace, workdir: Path) -> dict:
    if os.environ.get("KHO_POSTGRES_URL"):
        return _skipped(
            "KHO_POSTGRES_URL is set; this benchmark needs a PostgreSQL of its own for a true first run"
        )
    home = workdir / "home"
    env = {
        "KHO_HOME": str(home),
        "KHO_PORT_BASE": str(opts.stack_port_base),
        "KHO_CATALOG_DIR": str(common.REPO / "catalog"),
    }
    args = ["pipeline", *(["--keep"] if opts.keep_stack else [])]
    child = common.run_child(args, workdir, env, "pipeline").result
    first, second = child["runs"]

    def ingest(run: dict, ids: list[str]) -> float:
        return sum(run["dags"][dag_id]["seconds"] for dag_id in ids if dag_id in run["dags"])

    def warehouse(run: dict) -> float | None:
        found = run["dags"].get("warehouse")
        return round(found["seconds"], 1) if found else None

    # A DAG that failed (a connector whose source is not there, say) waits out its retries: that is its
    # retry policy, not the cost of a re-run. The ratio counts the ingest DAGs that succeeded both times.
    ingest_ids = sorted(d for d in first["dags"] if d.startswith("ingest__"))
    ok_ids = [d for d in ingest_ids if first["dags"][d]["ok"] and second["dags"].get(d, {}).get("ok")]
    failed_ids = [d for d in ingest_ids if d not in ok_ids]
    first_s, second_s = ingest(first, ok_ids), ingest(second, ok_ids)
    ratio = second_s / first_s if first_s else None
    per_dag = {
        dag_id: {
            "first_s": round(first["dags"][dag_id]["seconds"], 1),
            "second_s": round(second["dags"].get(dag_id, {}).get("seconds", float("nan")), 1),
            "first_ok": first["dags"][dag_id]["ok"],
            "second_ok": second["dags"].get(dag_id, {}).get("ok"),
            "second_outside_tasks_s": _outside_tasks(second["dags"].get(dag_id)),
            "first_tasks": first["dags"][dag_id]["tasks"],
            "second_tasks": second["dags"].get(dag_id, {}).get("tasks"),
        }
        for dag_id in first["dags"]
    }
    return {
        "benchmark": NUMBER,
        "name": "rerun_ingest",
        "title": "Re-running every ingest DAG with unchanged deliveries",
        "sizes": {"datasets": child["datasets"], "deliveries": first["deliveries"]},
        "project": {
            "label": "second run",
            "value": round(second_s, 1),
            "unit": f"s ({len(ok_ids)} ingest DAGs)",
        },
        "baseline": {
            "label": "first run",
            "value": round(first_s, 1),
            "unit": f"s ({len(ok_ids)} ingest DAGs)",
        },
        "ratio": None if ratio is None else round(ratio, 3),
        "ratio_meaning": "second run / first run, ingest DAGs that succeeded both times",
        "target": f"<= {TARGET:.0%} of the first",
        "met": None if ratio is None else ratio <= TARGET,
        "ingest_dags_failed": failed_ids,
        "all_ingest_dags_s": {
            "first": round(ingest(first, ingest_ids), 1),
            "second": round(ingest(second, ingest_ids), 1),
        },
        "warehouse_dag_s": {"first": warehouse(first), "second": warehouse(second)},
        "all_dags_ok": {"first": first["ok"], "second": second["ok"]},
        "stack_up_s": round(child["stack_up_s"], 1),
        "dags": per_dag,
    }


def _outside_tasks(dag: dict | None) -> float | None:
    """A DAG run's wall time not spent in its tasks: starting `airflow dags test`, parsing, bookkeeping."""
    if not dag:
        return None
    return round(dag["seconds"] - sum(t["seconds"] or 0 for t in dag["tasks"].values()), 1)


def _skipped(reason: str) -> dict:
    print(f"  skipped: {reason}")
    return {
        "benchmark": NUMBER,
        "name": "rerun_ingest",
        "title": "Re-running every ingest DAG with unchanged deliveries",
        "project": {"skipped": reason},
        "baseline": {"skipped": reason},
        "ratio": None,
        "target": f"<= {TARGET:.0%} of the first",
        "met": None,
    }
