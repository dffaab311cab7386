"""Benchmark 1: landing a generated CSV delivery with ``kho.landing.land.land_file`` against ``psql \\copy``.

Both load the very same file into a table of the same shape in the same warehouse: the raw table Kho
creates (provenance columns, the catalog's columns, the name key, its indexes on ``_load_id`` and
``_loaded_at``), and for psql a copy of it whose provenance and key columns take defaults, since psql only
copies the file's columns.
Kho's figure is the whole ``land_file`` call: archive (sha256 + copy), decode, read, convert, match names,
COPY, commit (this clean export takes the set-based path, ``kho.landing.bulk``). When Kho is below the target, a
smaller file goes through the row-by-row path stage by stage, then under cProfile, to show where that
path's time goes.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from bench import common

NUMBER = 1
DATASET = "bench_land_csv"
TARGET = 0.9


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("1: landing a CSV")
    group.add_argument(
        "--csv-rows", type=int, default=common.env_int("KHO_BENCH_CSV_ROWS", 1_000_000), metavar="N"
    )
    group.add_argument(
        "--profile-rows",
        type=int,
        default=common.env_int("KHO_BENCH_PROFILE_ROWS", 100_000),
        metavar="N",
        help="rows of the file profiled stage by stage (0: no profile)",
    )
    group.add_argument("--profile", action="store_true", help="profile even when the target is met")
    group.add_argument(
        "--csv-repeat",
        type=int,
        default=common.env_int("KHO_BENCH_CSV_REPEAT", 2),
        metavar="N",
        help="landings of each side per run, alternating; the best of each is kept",
    )


def small(opts: argparse.Namespace) -> None:
    opts.csv_rows = min(opts.csv_rows, 20_000)
    opts.profile_rows = min(opts.profile_rows, 5_000)
    opts.csv_repeat = 1


def run(opts: argparse.Namespace, workdir: Path) -> dict:
    level, names = common.area_names()
    catalog = common.write_catalog(workdir / "catalog-land", [(DATASET, common.AGENCY, "csv")], level)
    env = {"KHO_CATALOG_DIR": str(catalog)}
    delivery = workdir / "delivery.csv"
    generated = common.write_csv(delivery, names, rows=opts.csv_rows)
    rows = generated["rows"]
    url = common.ensure_postgres()

    landed: dict = {}
    psql_seconds = float("inf")
    for _ in range(max(opts.csv_repeat, 1)):  # interleaved: the machine is shared, its speed drifts
        common.forget_dataset(DATASET, common.AGENCY)
        try:
            common.checkpoint(url)  # neither side pays for writing out the other's rows
            kho = common.run_child(
                ["land", "--dataset", DATASET, "--file", str(delivery)], workdir, env, "land"
            )
            if kho.result["status"] != "landed" or kho.result["rows_landed"] != rows:
                raise RuntimeError(f"the delivery did not land whole: {kho.result}")
            if not landed or kho.result["seconds"] < landed["seconds"]:
                landed = kho.result
            common.checkpoint(url)
            psql_seconds = min(psql_seconds, _psql_copy(url, delivery))
        finally:
            common.forget_dataset(DATASET, common.AGENCY)

    kho_rate = rows / landed["seconds"]
    psql_rate = rows / psql_seconds
    ratio = kho_rate / psql_rate
    result = {
        "benchmark": NUMBER,
        "name": "land_csv",
        "title": "Landing a CSV delivery: kho.landing.land.land_file vs psql \\copy",
        "sizes": {"rows": rows, "bytes": generated["bytes"], "match": level, "repeat": opts.csv_repeat},
        "project": {
            "label": "land_file",
            "value": round(kho_rate),
            "unit": "rows/s",
            "seconds": round(landed["seconds"], 2),
            "import_seconds": round(landed["import_seconds"], 2),  # Kho's modules, Arrow, pandas: not timed
        },
        "baseline": {
            "label": "psql \\copy",
            "value": round(psql_rate),
            "unit": "rows/s",
            "seconds": round(psql_seconds, 2),
        },
        "ratio": round(ratio, 3),
        "ratio_meaning": "Kho rows/s / psql rows/s",
        "target": f">= {TARGET}",
        "met": ratio >= TARGET,
    }
    if opts.profile_rows and (ratio < TARGET or opts.profile):
        result["profile"] = _profile(names, opts.profile_rows, workdir, env)
    return result


def _psql_copy(url: str, delivery: Path) -> float:
    """Create the baseline table (the raw table's shape) and time psql's client-side COPY of the file.

    psql copies the file's columns only; the provenance columns take what a load into the raw table holds
    in every row (a load id, the file's name and sha256, the time), as column defaults, so both tables get
    rows of the same size (but for the name key, which psql cannot compute and leaves empty, and the
    source row, 0 for every row: an integer either way).
    """
    import hashlib
    import uuid

    import psycopg

    from kho.landing.land import PG_TYPES, PROVENANCE

    with delivery.open("rb") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()  # not timed: psql is not asked to archive
    defaults = {
        "_load_id": f"'{uuid.uuid4()}'",
        "_source_file": f"'{delivery.name}'",
        "_file_sha256": f"'{sha}'",
        "_source_row": "0",
        "_loaded_at": "now()",
    }
    columns = [f"{name} {pgtype} default {defaults[name]}" for name, pgtype in PROVENANCE]
    for name, kind, *_ in common.COLUMNS:
        columns.append(f"{name} {PG_TYPES[kind]}")
        if name == "commune_name":
            columns.append("commune_name_key text")
    table = f"bench_baseline.{DATASET}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists bench_baseline")
        conn.execute(f"drop table if exists {table}")
        conn.execute(f"create table {table} ({', '.join(columns)})")
        conn.execute(f"create index on {table} (_load_id)")
        conn.execute(f"create index on {table} using brin (_loaded_at)")
    names = ", ".join(c[0] for c in common.COLUMNS)
    command = f"\\copy {table} ({names}) from '{delivery}' with (format csv, header true, encoding 'UTF8')"
    start = time.perf_counter()
    subprocess.run(
        [common.psql(), url, "-v", "ON_ERROR_STOP=1", "-q", "-c", command], check=True, capture_output=True
    )
    seconds = time.perf_counter() - start
    with psycopg.connect(url) as conn:
        count = conn.execute(f"select count(*) from {table}").fetchone()[0]  # noqa: S608 (a constant)
    if count == 0:
        raise RuntimeError("psql \\copy landed nothing")
    return seconds


def _profile(names: list[str], rows: int, workdir: Path, env: dict[str, str]) -> dict:
    """The landing path stage by stage on a smaller file, then cProfile's view of reading and checking it."""
    sample = workdir / "profile.csv"
    common.write_csv(sample, names, rows=rows)
    common.forget_dataset(DATASET, common.AGENCY)
    try:
        child = common.run_child(
            ["stages", "--dataset", DATASET, "--file", str(sample)], workdir, env, "stages"
        )
    finally:
        common.forget_dataset(DATASET, common.AGENCY)
    stages = child.result
    total = stages["seconds"]["land"]
    return {
        "rows": stages["rows"],
        "land_seconds": round(total, 2),
        "parts_seconds": {k: round(v, 2) for k, v in stages["parts"].items()},
        "parts_share": {k: f"{v / total:.0%}" for k, v in stages["parts"].items()},
        "profile_own_seconds_by_part": stages["profile_categories"],
        "profile_top": stages["profile_top"][:15],
    }
