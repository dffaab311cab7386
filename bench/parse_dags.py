"""Benchmark 5: parsing ``dags/kho_land.py`` with the catalog scaled to 8, 50, 100 and 200 datasets.

Each catalog holds copies of the generic dataset entry under different ids, spread over ten agencies, all
valid against the schema. For each size a fresh process, with Kho's Airflow environment
(``kho.operations.airflow.airflow_env``) and ``KHO_CATALOG_DIR`` naming that catalog, imports Airflow (not timed: the
DAG processor has it loaded), then parses the file with ``DagBag`` (timed: importing Kho's modules,
reading and validating the catalog, building one DAG per dataset) and serializes its DAGs as the DAG
processor does before storing them (timed separately). The best of ``--parse-repeat`` processes is kept.

``kho_warehouse.py`` is left out of the scaled measurement: it is built from the dbt manifest, whose models
exist only for the repository's datasets. It is measured once, separately, with the repository's catalog,
when ``dbt_project/target/manifest.json`` exists (``kho up`` writes it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import common

NUMBER = 5
TARGET_S = 2.0
AGENCIES = 10
DEFAULT_SIZES = "8,50,100,200"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("5: DAG parsing")
    group.add_argument(
        "--catalog-sizes",
        default=common.env_str("KHO_BENCH_CATALOG_SIZES", DEFAULT_SIZES),
        metavar="N,N,...",
        help="numbers of datasets (default 8,50,100,200; the last is judged against the target)",
    )
    group.add_argument(
        "--parse-repeat", type=int, default=common.env_int("KHO_BENCH_PARSE_REPEAT", 3), metavar="N"
    )


def small(opts: argparse.Namespace) -> None:
    if opts.catalog_sizes == DEFAULT_SIZES:
        opts.catalog_sizes = "2,8"
    opts.parse_repeat = min(opts.parse_repeat, 1)


def run(opts: argparse.Namespace, workdir: Path) -> dict:
    from kho.operations.airflow import airflow_env

    level, _ = common.area_names()
    sizes = sorted({int(n) for n in str(opts.catalog_sizes).split(",") if n.strip()})
    dag_file = common.REPO / "dags" / "kho_land.py"
    base_env = airflow_env()
    by_size: dict[int, dict] = {}
    for size in sizes:
        entries = [(f"bench_dataset_{i:03d}", f"bench_agency_{i % AGENCIES:02d}", "csv") for i in range(size)]
        catalog = common.write_catalog(workdir / f"catalog-{size}", entries, level)
        env = {**base_env, "KHO_CATALOG_DIR": str(catalog)}
        best = None
        for attempt in range(max(opts.parse_repeat, 1)):
            child = common.run_child(
                ["parse", "--file", str(dag_file)], workdir, env, f"parse-{size}-{attempt}"
            )
            figures = child.result
            if figures["import_errors"] or figures["dags"] != size:
                raise RuntimeError(
                    f"{size} datasets: {figures['dags']} DAGs, errors {figures['import_errors']}"
                )
            if best is None or figures["parse_s"] < best["parse_s"]:
                best = figures
        by_size[size] = {
            "parse_s": round(best["parse_s"], 3),
            "serialize_s": round(best["serialize_s"], 3),
            "parse_and_serialize_s": round(best["parse_s"] + best["serialize_s"], 3),
            "dags": best["dags"],
            "tasks": best["tasks"],
        }
        print(
            f"  {size:>4} datasets: parse {best['parse_s']:.2f} s, serialize {best['serialize_s']:.2f} s",
            flush=True,
        )

    first, last = sizes[0], sizes[-1]
    slope = _slope([(n, by_size[n]["parse_s"]) for n in sizes])
    result = {
        "benchmark": NUMBER,
        "name": "parse_dags",
        "title": f"Parsing dags/kho_land.py with {last} datasets",
        "sizes": {"datasets": sizes, "repeat": opts.parse_repeat},
        "project": {"label": f"{last} datasets", "value": by_size[last]["parse_s"], "unit": "s"},
        "baseline": {"label": f"{first} datasets", "value": by_size[first]["parse_s"], "unit": "s"},
        "ratio": round(by_size[last]["parse_s"] / by_size[first]["parse_s"], 2),
        "ratio_meaning": f"parse time at {last} / at {first} datasets",
        "target": f"< {TARGET_S:g} s at {last}",
        "met": by_size[last]["parse_s"] < TARGET_S,
        "by_size": by_size,
        "growth_ms_per_dataset": round(slope * 1000, 2),
        "fixed_s": round(by_size[first]["parse_s"] - slope * first, 3),
        "warehouse_dag": _warehouse(workdir, base_env),
    }
    return result


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares seconds per dataset."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def _warehouse(workdir: Path, env: dict[str, str]) -> dict:
    """dags/kho_warehouse.py once, with the repository's catalog and dbt manifest."""
    from kho.conforming.dbt import manifest_path

    if not manifest_path().exists():
        return {"skipped": "no dbt manifest (run `kho up` first)"}
    env = {k: v for k, v in env.items() if k != "KHO_CATALOG_DIR"}
    env["KHO_CATALOG_DIR"] = str(common.REPO / "catalog")
    try:
        child = common.run_child(
            ["parse", "--file", str(common.REPO / "dags" / "kho_warehouse.py")],
            workdir,
            env,
            "parse-warehouse",
        )
    except RuntimeError as exc:
        return {"error": str(exc)[-1000:]}
    f = child.result
    return {
        "parse_s": round(f["parse_s"], 3),
        "serialize_s": round(f["serialize_s"], 3),
        "tasks": f["tasks"],
        "import_errors": f["import_errors"],
    }
