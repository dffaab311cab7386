"""Benchmark 2: reading a generated workbook with Kho's Excel reader against pandas with openpyxl.

Kho's figure is its whole reader (``kho.landing.readers.excel.read``): the file vetted (zip limits, every part
inflated once, formula and error cells noted), calamine, header mapping, every cell converted to its
catalog type, one record per row. The baseline is ``pandas.read_excel(engine="openpyxl")``, the usual way
to read a workbook in Python, which only turns cells into a DataFrame. ``pandas.read_excel(engine="calamine")``
is timed as well when python-calamine is there: it shows what Kho's checks cost over calamine itself.
Each reader runs in a fresh process; a run is the best of ``--xlsx-repeat`` reads by Kho and by openpyxl,
alternating (calamine's figure is one read).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from bench import common

NUMBER = 2
DATASET = "bench_read_xlsx"
TARGET = 6.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("2: reading an xlsx")
    group.add_argument(
        "--xlsx-rows", type=int, default=common.env_int("KHO_BENCH_XLSX_ROWS", 100_000), metavar="N"
    )
    group.add_argument(
        "--xlsx-repeat",
        type=int,
        default=common.env_int("KHO_BENCH_XLSX_REPEAT", 2),
        metavar="N",
        help="reads by Kho and by openpyxl per run, alternating; the best of each is kept",
    )


def small(opts: argparse.Namespace) -> None:
    opts.xlsx_rows = min(opts.xlsx_rows, 2_000)
    opts.xlsx_repeat = 1


def run(opts: argparse.Namespace, workdir: Path) -> dict:
    level, names = common.area_names()
    catalog = common.write_catalog(workdir / "catalog-xlsx", [(DATASET, common.AGENCY, "xlsx")], level)
    workbook = workdir / "delivery.xlsx"
    generated = common.write_xlsx(workbook, names, opts.xlsx_rows)
    rows = generated["rows"]

    kho: dict = {}
    best: dict[str, float] = {}  # engine -> seconds
    for attempt in range(max(opts.xlsx_repeat, 1)):  # interleaved: the machine is shared, its speed drifts
        read = common.run_child(
            ["read", "--dataset", DATASET, "--file", str(workbook)],
            workdir,
            {"KHO_CATALOG_DIR": str(catalog)},
            "kho",
        ).result
        if read["rows"] != rows or read["rows_with_issues"]:
            raise RuntimeError(f"Kho's reader did not read the workbook cleanly: {read}")
        if not kho or read["seconds"] < kho["seconds"]:
            kho = read
        for engine in ("openpyxl", "calamine"):
            module = "python_calamine" if engine == "calamine" else engine
            if importlib.util.find_spec(module) is None or (engine == "calamine" and attempt):
                continue
            timed = common.run_child(
                ["pandas", "--file", str(workbook), "--engine", engine], workdir, None, engine
            )
            best[engine] = min(best.get(engine, float("inf")), timed.result["seconds"])
    kho_rate = rows / kho["seconds"]
    result = {
        "benchmark": NUMBER,
        "name": "read_xlsx",
        "title": "Reading an xlsx: Kho's reader vs pandas + openpyxl",
        "sizes": {
            "rows": rows,
            "bytes": generated["bytes"],
            "columns": len(common.COLUMNS),
            "repeat": opts.xlsx_repeat,
        },
        "project": {
            "label": "kho.landing.readers.excel",
            "value": round(kho_rate),
            "unit": "rows/s",
            "seconds": round(kho["seconds"], 2),
        },
        "target": f">= {TARGET:g}x faster",
        "ratio_meaning": "Kho rows/s / pandas+openpyxl rows/s",
    }
    others = {}
    for engine in ("openpyxl", "calamine"):
        if engine not in best:
            module = "python_calamine" if engine == "calamine" else engine
            others[engine] = {"skipped": f"{module} not installed"}
            continue
        seconds = best[engine]
        others[engine] = {
            "label": f"pandas+{engine}",
            "value": round(rows / seconds),
            "unit": "rows/s",
            "seconds": round(seconds, 2),
        }
    result["baseline"] = others["openpyxl"]
    result["also"] = {"pandas+calamine": others["calamine"]}
    if "skipped" in others["openpyxl"]:
        print("  baseline skipped: openpyxl not installed")
        result.update(ratio=None, met=None)
    else:
        ratio = kho_rate / others["openpyxl"]["value"]
        result.update(ratio=round(ratio, 2), met=ratio >= TARGET)
    return result
