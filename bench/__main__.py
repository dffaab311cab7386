"""``python -m bench``: run the benchmarks, print a table, write the figures to ``bench/results.json``.

    python -m bench                 # all five at the issue's sizes (takes a while: 1 GB of CSV, Airflow runs)
    python -m bench --only 1 --only 5
    python -m bench --small         # CI-sized: the same code paths on small inputs, in a few minutes

Sizes come from flags, or from ``KHO_BENCH_*`` variables (see ``--help``). Results of the benchmarks run
are merged into the results file, so ``--only 2`` updates benchmark 2 and keeps the others' figures.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import BENCHMARKS, common

RESULTS = Path(__file__).resolve().parent / "results.json"
RUNS = 3  # each benchmark is run this many times; the target is met only when every run meets it


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--only",
        type=int,
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="N",
        help="run benchmark N (repeatable); default: all",
    )
    p.add_argument("--small", action="store_true", help="CI-sized inputs: proves the benchmarks still run")
    p.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    p.add_argument("--keep-files", action="store_true", help="keep the generated files and logs")
    p.add_argument(
        "--runs",
        type=int,
        default=common.env_int("KHO_BENCH_RUNS", RUNS),
        metavar="N",
        help=f"runs of each benchmark (default {RUNS}): min / median / max; met only if every run meets it",
    )
    for number in sorted(BENCHMARKS):
        module(number).add_arguments(p)
    return p


def module(number: int):
    return importlib.import_module(f"bench.{BENCHMARKS[number]}")


def main(argv: list[str] | None = None) -> int:
    opts = parser().parse_args(argv)
    chosen = sorted(set(opts.only or BENCHMARKS))
    if opts.small:
        for number in chosen:
            module(number).small(opts)
    workdir = Path(tempfile.mkdtemp(prefix="kho-bench-"))
    results: dict[str, dict] = {}
    failed = False
    try:
        for number in chosen:
            bench = module(number)
            print(f"[{number}] {BENCHMARKS[number]} ...", flush=True)
            runs = []
            for attempt in range(1, max(1, opts.runs) + 1):
                started = time.perf_counter()
                load_before = common.load_average()
                scratch = workdir / f"{BENCHMARKS[number]}-{attempt}"
                scratch.mkdir(parents=True)
                try:
                    result = bench.run(opts, scratch)
                except Exception as exc:  # one benchmark failing must not lose the others' figures
                    failed = True
                    traceback.print_exc()
                    result = {"benchmark": number, "name": BENCHMARKS[number], "error": str(exc)[-2000:]}
                result["wall_seconds"] = round(time.perf_counter() - started, 1)
                result["load_average_before"] = load_before
                result["load_average_after"] = common.load_average()
                runs.append(result)
                if opts.runs > 1:
                    print(f"[{number}] run {attempt}: {summary_line(result)}", flush=True)
                if "error" in result:
                    break
            result = combine(runs)
            result["small"] = opts.small
            result["commit"] = _commit()
            results[str(number)] = result
            print(f"[{number}] {summary_line(result)}", flush=True)
    finally:
        if opts.keep_files:
            print(f"files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(results))
    write(opts.out, results)
    print(f"\nresults written to {opts.out}")
    return 1 if failed else 0


def combine(runs: list[dict]) -> dict:
    """One result from several runs of a benchmark: the median run's figures, each figure's min / median /
    max over the runs, and ``met`` only when every run met the target (None if one was not judged)."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return {**failed[0], "runs": runs}
    ordered = sorted(runs, key=lambda r: (r.get("ratio") is None, r.get("ratio") or 0))
    result = dict(ordered[(len(ordered) - 1) // 2])  # the median run (the lower middle of an even count)
    verdicts = [r.get("met") for r in runs]
    result["met"] = None if None in verdicts else all(verdicts)
    result["spread"] = {
        key: _spread([r[key] for r in runs if r.get(key) is not None])
        for key in ("ratio",)
        if any(r.get(key) is not None for r in runs)
    }
    for part in ("project", "baseline"):
        values = [r[part]["value"] for r in runs if isinstance(r.get(part), dict) and "value" in r[part]]
        if values:
            result["spread"][part] = _spread(values)
    result["load_average"] = [r["load_average_before"] for r in runs] + [runs[-1]["load_average_after"]]
    result["runs"] = [
        {
            "ratio": r.get("ratio"),
            "met": r.get("met"),
            "project": r.get("project"),
            "baseline": r.get("baseline"),
            "load_average_before": r["load_average_before"],
            "load_average_after": r["load_average_after"],
            "wall_seconds": r["wall_seconds"],
        }
        for r in runs
    ]
    return result


def _spread(values: list) -> dict:
    ordered = sorted(values)
    return {"min": ordered[0], "median": statistics.median(ordered), "max": ordered[-1], "n": len(ordered)}


def _commit() -> str | None:
    """The code measured: HEAD, marked when the work tree has changes (several people share it)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=common.REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "kho", "dags", "catalog")
    return head + ("+changes" if dirty else "")


def figure(part: dict | None) -> str:
    if not part:
        return "-"
    if part.get("skipped"):
        return f"skipped: {part['skipped']}"
    value = part["value"]
    if isinstance(value, dict):  # min / median / max of the measurements within one run (benchmark 11)
        return f"{part['label']}: {_mmm(value)} {part['unit']} (min / median / max)"
    text = f"{value:,.0f}" if isinstance(value, int | float) and abs(value) >= 100 else f"{value:,.3g}"
    return f"{part['label']}: {text} {part['unit']}"


def summary_line(result: dict) -> str:
    if "error" in result:
        return f"FAILED: {result['error'].splitlines()[0] if result['error'] else ''}"
    met = {True: "target met", False: "target NOT met", None: "target not judged"}[result.get("met")]
    ratio = result.get("ratio")
    ratio_text = f"ratio {ratio} ({result['ratio_meaning']})" if ratio is not None else "no ratio"
    spread = result.get("spread", {}).get("ratio")
    if spread and spread["n"] > 1:
        ratio_text = (
            f"ratio min / median / max of {spread['n']} runs {_mmm(spread)} ({result['ratio_meaning']})"
        )
        met += " in every run" if result.get("met") else ""
    return f"{figure(result.get('project'))}; {figure(result.get('baseline'))}; {ratio_text}; {met}"


def _mmm(spread: dict) -> str:
    return " / ".join(f"{spread[k]:.3g}" for k in ("min", "median", "max"))


def table(results: dict[str, dict]) -> str:
    header = [
        "#",
        "benchmark",
        "Kho (median run)",
        "baseline (median run)",
        "ratio min/med/max",
        "target",
        "met",
    ]
    rows = [header]
    for key, r in sorted(results.items(), key=lambda kv: int(kv[0])):
        if "error" in r:
            rows.append([key, r["name"], "FAILED", "", "", "", ""])
            continue
        met = {True: "yes", False: "NO", None: "-"}[r.get("met")]
        spread = r.get("spread", {}).get("ratio")
        ratio = "-" if r.get("ratio") is None else str(r["ratio"])
        if spread and spread["n"] > 1:
            ratio = _mmm(spread)
        rows.append(
            [key, r["name"], figure(r.get("project")), figure(r.get("baseline")), ratio, r["target"], met]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    meanings = [f"{k}: {r['ratio_meaning']}" for k, r in sorted(results.items()) if "ratio_meaning" in r]
    if meanings:
        lines.append("ratio: " + "; ".join(meanings))
    return "\n".join(lines)


def write(path: Path, results: dict[str, dict]) -> None:
    """Merge these results into the results file (other benchmarks' earlier figures are kept)."""
    old: dict = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
    merged = {**old.get("benchmarks", {}), **results}
    doc = {
        "machine": common.machine(),
        "benchmarks": dict(sorted(merged.items(), key=lambda kv: int(kv[0]))),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
