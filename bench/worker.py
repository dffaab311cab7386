"""The child side of the benchmarks: one process per measurement, started by :func:`bench.common.run_child`.

Each subcommand imports Kho only once it runs, in a process whose environment already names the catalog
(``KHO_CATALOG_DIR``), and writes its figures as JSON to ``--result``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench import operated


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- landing -------------------------------------------------------------------------------------------


def land(args: argparse.Namespace) -> dict:
    """``kho.landing.land.land_file`` on one file, as the landing DAG calls it."""
    start = time.perf_counter()
    from kho.catalog import catalog
    from kho.landing import bulk  # noqa: F401 (imported by the landing itself when a delivery lands)
    from kho.landing.land import land_file

    # The catalog is read and the modules imported before the clock starts, as in a worker that landed
    # a delivery before: the landing is timed, not Python's start; the imports are reported apart.
    catalog().dataset(args.dataset)
    imports = time.perf_counter() - start
    before = rss_mb()
    start = time.perf_counter()
    report = land_file(args.dataset, Path(args.file))
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "import_seconds": imports,
        "status": report.status,
        "rows_delivered": report.rows_delivered,
        "rows_landed": report.rows_landed,
        "rows_quarantined": report.rows_quarantined,
        "error": report.error,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(rss_mb(), 1),
    }


def stages(args: argparse.Namespace) -> dict:
    """Where the landing time goes: the same file through ever more of the landing path, then profiled.

    archive (sha256 + copy) | decode (bytes -> NFC lines) | csv (+ csv parsing) | reader (+ header, cleaning,
    value conversion: the records) | check (+ required columns and name keys) | land (land_file whole:
    archive + all of the above + COPY + commit).
    """
    import cProfile
    import io
    import pstats
    import tempfile

    from kho.catalog import catalog
    from kho.landing.land import archive, check_record, land_file
    from kho.landing.readers import csv_reader
    from kho.settings import settings

    ds = catalog().dataset(args.dataset)
    path = Path(args.file)
    name = path.name
    timings: dict[str, float] = {}

    def timed(label: str, fn, repeat: int = 1) -> None:
        best = None
        for _ in range(repeat):  # the best of a few: the machine is shared, and the first pass fills caches
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            best = elapsed if best is None else min(best, elapsed)
        timings[label] = best

    def decode_only() -> None:
        with path.open("rb") as stream:
            for _ in csv_reader.decoded_lines(stream, ds.id, name, ds.source.encoding):
                pass

    def csv_only() -> None:
        with path.open("rb") as stream:
            lines = csv_reader.decoded_lines(stream, ds.id, name, ds.source.encoding)
            for _ in csv_reader.csv_rows(lines, ",", ds.id, name):
                pass

    def reader_only() -> None:
        for _ in csv_reader.read(ds, path, name):
            pass

    def reader_and_check() -> None:
        for record in csv_reader.read(ds, path, name):
            if not record.issues:
                check_record(ds, record)

    with tempfile.TemporaryDirectory() as tmp:
        s = settings()
        scratch = type(s)(repo=s.repo, home=Path(tmp), port_base=s.port_base, external_postgres=None)
        timed("archive", lambda: archive(path, ds.id, scratch))
    timed("decode", decode_only, args.repeat)
    timed("csv", csv_only, args.repeat)
    timed("reader", reader_only, args.repeat)
    timed("check", reader_and_check, args.repeat)
    timed("land", lambda: land_file(ds.id, path))
    rows = sum(1 for _ in path.open("rb")) - 1

    profiler = cProfile.Profile()
    profiler.enable()
    reader_and_check()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    return {
        "rows": rows,
        "seconds": timings,
        "parts": {
            "archive (sha256 + copy)": timings["archive"],
            "decode (encoding check, NFC)": timings["decode"],
            "csv parsing": timings["csv"] - timings["decode"],
            "header, cleaning, value conversion": timings["reader"] - timings["csv"],
            "required columns, name keys": timings["check"] - timings["reader"],
            "COPY, write_row, commit": timings["land"] - timings["check"] - timings["archive"],
        },
        "profile_categories": profile_categories(stats),
        "profile_top": top_functions(stats, 25),
    }


# Where a function's own time is counted: by the file it is defined in; a builtin (a C function) counts for
# the file that called it.
CATEGORIES = [
    ("kho/landing/decode.py", "decode"),
    ("kho/landing/legacy_vn.py", "decode"),
    ("kho/landing/readers/csv_reader.py", "reader (csv, lines)"),
    ("kho/landing/readers/tabular.py", "reader (tabular: header, rows, records)"),
    ("kho/landing/values.py", "value conversion"),
    ("kho/landing/names.py", "name keys"),
    ("kho/landing/areas.py", "name keys"),
    ("kho/landing/land.py", "land loop, check_record"),
    ("/psycopg/", "COPY (psycopg)"),
    ("/csv.py", "reader (csv, lines)"),
    ("/codecs.py", "decode"),
    ("/decimal.py", "value conversion"),
    ("/_strptime.py", "value conversion"),
    ("/re/", "regular expressions"),
]


def _category(filename: str) -> str | None:
    for marker, label in CATEGORIES:
        if marker in filename:
            return label
    return None


def profile_categories(stats) -> dict[str, float]:
    """Own time per part of the landing path (cProfile; absolute figures are inflated by the profiler)."""
    totals: dict[str, float] = {}
    for func, (_cc, _nc, tt, _ct, callers) in stats.stats.items():
        label = _category(func[0])
        if label is None and callers:
            # a builtin or a library function: charge its time to its callers' parts, pro rata
            share = sum(v[2] for v in callers.values()) or 1.0
            for caller, (_, _, ctt, _) in callers.items():
                owner = _category(caller[0]) or "other"
                totals[owner] = totals.get(owner, 0.0) + tt * ctt / share
            continue
        label = label or "other"
        totals[label] = totals.get(label, 0.0) + tt
    return dict(sorted(((k, round(v, 3)) for k, v in totals.items()), key=lambda kv: -kv[1]))


def top_functions(stats, count: int) -> list[dict]:
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:count]
    repo = str(Path(__file__).resolve().parent.parent) + "/"
    out = []
    for (filename, line, func), (_cc, nc, tt, ct, _) in rows:
        where = filename.replace(repo, "").split("site-packages/")[-1]
        out.append(
            {"function": f"{where}:{line}({func})", "calls": nc, "own_s": round(tt, 3), "cum_s": round(ct, 3)}
        )
    return out


# --- reading -------------------------------------------------------------------------------------------


def read(args: argparse.Namespace) -> dict:
    """The project's reader for the dataset's format over one file: records and issues, no landing."""
    from kho.catalog import catalog
    from kho.landing.readers import reader_for

    ds = catalog().dataset(args.dataset)
    path = Path(args.file)
    reader = reader_for(ds.source.format)
    start = time.perf_counter()
    records = issues = 0
    for record in reader(ds, path, path.name):
        records += 1
        issues += bool(record.issues)
    return {"seconds": time.perf_counter() - start, "rows": records, "rows_with_issues": issues}


def pandas_read(args: argparse.Namespace) -> dict:
    """pandas.read_excel with the given engine: the usual way to read a workbook in Python."""
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_excel(args.file, engine=args.engine)
    return {"seconds": time.perf_counter() - start, "rows": len(frame), "engine": args.engine}


# --- DAG parsing ---------------------------------------------------------------------------------------


def parse(args: argparse.Namespace) -> dict:
    """Parse one DAG file the way Airflow's DAG processor does: import it (DagBag), then serialize its DAGs.

    Airflow itself is imported before the clock starts (the DAG processor has it loaded); Kho's modules
    are not, since each parse of a file happens in a fresh process.
    """
    start = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    imported = time.perf_counter()
    bag = DagBag(dag_folder=args.file, safe_mode=True)
    parsed = time.perf_counter()
    for dag in bag.dags.values():
        DagSerialization.to_dict(dag)
    serialized = time.perf_counter()
    return {
        "import_airflow_s": imported - start,
        "parse_s": parsed - imported,
        "dagbag_duration_s": sum(st.duration.total_seconds() for st in bag.dagbag_stats),
        "serialize_s": serialized - parsed,
        "dags": len(bag.dags),
        "tasks": sum(len(d.tasks) for d in bag.dags.values()),
        "import_errors": {k: v[-500:] for k, v in bag.import_errors.items()},
    }


# --- re-running the pipeline ---------------------------------------------------------------------------


# --- entry point ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("land", "stages", "read"):
        p = sub.add_parser(name)
        p.add_argument("--dataset", required=True)
        p.add_argument("--file", required=True)
    sub.choices["stages"].add_argument("--repeat", type=int, default=2)
    p = sub.add_parser("pandas")
    p.add_argument("--file", required=True)
    p.add_argument("--engine", default="openpyxl")
    p = sub.add_parser("parse")
    p.add_argument("--file", required=True)
    p = sub.add_parser("pipeline")
    p.add_argument("--keep", action="store_true", help="leave the stack running")
    p = sub.add_parser("freshness")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--idle-s", type=int, default=120)
    p.add_argument("--keep", action="store_true", help="leave the stack running")
    for p in sub.choices.values():
        p.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    handler = {
        "land": land,
        "stages": stages,
        "read": read,
        "pandas": pandas_read,
        "parse": parse,
        "pipeline": operated.pipeline,
        "freshness": operated.freshness,
    }[args.command]
    result = handler(args)
    result["child_rss_end_mb"] = round(rss_mb(), 1)
    Path(args.result).write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
