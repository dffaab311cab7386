"""Benchmark 4: re-running every landing DAG when nothing changed, against the first run.

``kho.operations.runs.run_pipeline`` (as `kho run`) triggers each landing DAG of the repository's catalog
on the running scheduler, then follows the warehouse DAGs. The first run finds the bundled sample deliveries in the inboxes (copied there as ``kho demo``
does) and lands them; before the second run the same files are put back, so every delivery is one
already landed and is skipped, and the landing DAG skips its downstream task. Under the running
scheduler the files put into an inbox start runs of their own too (the inbox watcher), so a landing DAG
has one or two runs per pass, in both passes alike. Once every run of a pass has ended, the ratio compares
the landing DAGs' work (second / first): the seconds each task's callable ran, from the end of its "Pre
Execute" log group to the start of its "Post Execute" (Kho's code: looking at the inbox, hashing, landing
or skipping, validating), summed over every run of the pass. Beside it: the tasks' time as Airflow records
it (start to end, which adds the task process's start and the DAG file's parse, a fixed cost per task that
Airflow pays the same for any task, 0.2 s alone and several seconds when many tasks start at once), each
run's start to end (which adds the time its tasks waited for a free worker behind the runs arriving with
it), the ingest phase's wall time and the warehouse DAG. Times come from Airflow's REST API and its task
logs (``bench/operated.py``).

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
    group = parser.add_argument_group("4: re-running the landing DAGs")
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

    def warehouse(run: dict) -> float | None:
        found = run["phases"].get("warehouse")  # first to last warehouse DAG run of the pass
        return round(found, 1) if found else None

    # The ratio compares the landing DAGs' work (every run of the pass, the inbox watcher's included):
    # what a re-run costs under the running scheduler, beyond Airflow's fixed cost per task. A DAG that
    # failed waits out its retries (its retry policy, not the cost of a re-run): then the ratio is
    # reported, not judged.
    land_ids = sorted(d for d in first["dags"] if d.startswith("land__"))
    failed_ids = [d for d in land_ids if not (first["dags"][d]["ok"] and second["dags"].get(d, {}).get("ok"))]

    def runs(run: dict, measure: str = "work_seconds") -> float | None:
        seconds = [run["dags"].get(d, {}).get(measure) for d in land_ids]
        return None if None in seconds else sum(seconds)

    first_s, second_s = runs(first), runs(second)
    first_runs_s, second_runs_s = runs(first, "seconds"), runs(second, "seconds")
    first_task_s, second_task_s = runs(first, "task_seconds"), runs(second, "task_seconds")
    ratio = second_s / first_s if first_s and second_s is not None else None
    first_wall, second_wall = first["phases"].get("land"), second["phases"].get("land")
    per_dag = {
        dag_id: {
            "first_work_s": _rounded(first["dags"][dag_id]["work_seconds"]),
            "second_work_s": _rounded(second["dags"].get(dag_id, {}).get("work_seconds")),
            "first_task_s": _rounded(first["dags"][dag_id]["task_seconds"]),
            "second_task_s": _rounded(second["dags"].get(dag_id, {}).get("task_seconds")),
            "first_runs": first["dags"][dag_id]["runs"],
            "second_runs": second["dags"].get(dag_id, {}).get("runs"),
            "first_s": _rounded(first["dags"][dag_id]["seconds"]),
            "second_s": _rounded(second["dags"].get(dag_id, {}).get("seconds")),
            "first_ok": first["dags"][dag_id]["ok"],
            "second_ok": second["dags"].get(dag_id, {}).get("ok"),
            "first_tasks": first["dags"][dag_id]["tasks"],
            "second_tasks": second["dags"].get(dag_id, {}).get("tasks"),
        }
        for dag_id in first["dags"]
    }
    return {
        "benchmark": NUMBER,
        "name": "rerun_land",
        "title": "Re-running every landing DAG with unchanged deliveries",
        "sizes": {"datasets": child["datasets"], "deliveries": first["deliveries"]},
        "project": {
            "label": "second pass",
            "value": _rounded(second_s),
            "unit": f"s of task work ({len(land_ids)} landing DAGs)",
        },
        "baseline": {
            "label": "first pass",
            "value": _rounded(first_s),
            "unit": f"s of task work ({len(land_ids)} landing DAGs)",
        },
        "ratio": None if ratio is None else round(ratio, 3),
        "ratio_meaning": "second / first, the landing DAGs' task callables' seconds (task logs)",
        "land_task_s": {"first": _rounded(first_task_s), "second": _rounded(second_task_s)},
        "land_task_ratio": round(second_task_s / first_task_s, 3) if first_task_s and second_task_s else None,
        "land_runs_s": {"first": _rounded(first_runs_s), "second": _rounded(second_runs_s)},
        "target": f"<= {TARGET:.0%} of the first",
        "met": None if ratio is None or failed_ids else ratio <= TARGET,
        "land_dags_failed": failed_ids,
        "land_phase_wall_s": {"first": _rounded(first_wall), "second": _rounded(second_wall)},
        "land_phase_wall_ratio": round(second_wall / first_wall, 3) if first_wall and second_wall else None,
        "warehouse_dag_s": {"first": warehouse(first), "second": warehouse(second)},
        "all_dags_ok": {"first": first["ok"], "second": second["ok"]},
        "stack_up_s": round(child["stack_up_s"], 1),
        "dags": per_dag,
    }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _skipped(reason: str) -> dict:
    print(f"  skipped: {reason}")
    return {
        "benchmark": NUMBER,
        "name": "rerun_land",
        "title": "Re-running every landing DAG with unchanged deliveries",
        "project": {"skipped": reason},
        "baseline": {"skipped": reason},
        "ratio": None,
        "target": f"<= {TARGET:.0%} of the first",
        "met": None,
    }
