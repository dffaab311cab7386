"""Benchmark 3: peak memory of the process landing a large CSV delivery (default 1 GB).

The file is generated in batches (the generator holds a few MB whatever the size). The landing runs in a
child process (``land_file``, as the landing DAG's task calls it); its peak resident memory is taken from
``wait4`` for that one child (ru_maxrss: a short spike cannot be missed), and /proc is polled meanwhile
for the steady level. The baseline is the same landing of a file a tenth the size: a peak that grows
with the file would show in the ratio. PostgreSQL's own memory (its server process) is not counted: it
is the server's, bounded by its settings, whoever sends the COPY.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import common

NUMBER = 3
DATASET = "bench_land_memory"
TARGET_MB = 500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("3: memory while landing")
    group.add_argument(
        "--memory-mb",
        type=float,
        default=common.env_float("KHO_BENCH_MEMORY_MB", 1024),
        metavar="MB",
        help="size of the CSV landed (default 1024 MB)",
    )


def small(opts: argparse.Namespace) -> None:
    opts.memory_mb = min(opts.memory_mb, 20)


def run(opts: argparse.Namespace, workdir: Path) -> dict:
    level, names = common.area_names()
    catalog = common.write_catalog(workdir / "catalog-memory", [(DATASET, common.AGENCY, "csv")], level)
    env = {"KHO_CATALOG_DIR": str(catalog)}
    common.ensure_postgres()
    measured = {}
    for label, megabytes in (("baseline", opts.memory_mb / 10), ("project", opts.memory_mb)):
        delivery = workdir / f"delivery-{label}.csv"
        generated = common.write_csv(delivery, names, size_bytes=int(megabytes * 2**20))
        common.forget_dataset(DATASET, common.AGENCY)
        try:
            measured[label] = {**generated, **_land(delivery, workdir, env, label)}
        finally:
            common.forget_dataset(DATASET, common.AGENCY)
            delivery.unlink()
        if measured[label]["status"] != "landed" or measured[label]["rows_landed"] != generated["rows"]:
            raise RuntimeError(f"the delivery did not land whole: {measured[label]}")

    big, small_run = measured["project"], measured["baseline"]
    ratio = big["peak_rss_mb"] / small_run["peak_rss_mb"]

    def part(run: dict, label: str) -> dict:
        return {
            "label": label,
            "value": round(run["peak_rss_mb"], 1),
            "unit": "MB peak RSS",
            "file_mb": round(run["bytes"] / 2**20, 1),
            "rows": run["rows"],
            "seconds": round(run["seconds"], 1),
            "rss_before_landing_mb": run["rss_before_mb"],
            "rss_median_while_landing_mb": run["rss_median_mb"],
        }

    return {
        "benchmark": NUMBER,
        "name": "land_memory",
        "title": "Peak memory while landing a large CSV",
        "sizes": {"file_mb": round(big["bytes"] / 2**20, 1), "rows": big["rows"]},
        "project": part(big, f"landing {big['bytes'] / 2**30:.2f} GB"),
        "baseline": part(small_run, f"landing {small_run['bytes'] / 2**20:.0f} MB"),
        "ratio": round(ratio, 2),
        "ratio_meaning": "peak RSS of the large file / of a file a tenth its size",
        "target": f"< {TARGET_MB} MB",
        "met": big["peak_rss_mb"] < TARGET_MB,
    }


def _land(delivery: Path, workdir: Path, env: dict[str, str], label: str) -> dict:
    args = ["land", "--dataset", DATASET, "--file", str(delivery)]
    child = common.run_child(args, workdir, env, f"land-{label}", sample_rss=True)
    samples = sorted(child.rss_samples_mb)
    return {
        **child.result,
        "seconds": child.seconds,
        "peak_rss_mb": child.max_rss_mb,
        "rss_median_mb": round(samples[len(samples) // 2], 1) if samples else None,
    }
