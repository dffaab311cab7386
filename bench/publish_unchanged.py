"""Publishing every dataset again when nothing changed: write calls (target 0) and time against the first.

One benchmark dataset per open dataset of the catalog (same agency, same kind of entry), each from a
generated mart of ``--unchanged-rows`` rows, is published by ``publishers.ckan.publish_all`` into the
running portal: first into an empty portal, then again with nothing changed. The second pass must make
no write call to CKAN, and take at most 5% of the first pass's time. The ratio is second / first.
Each dataset's own figures (write calls, where the time went) are in ``passes``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

NAME = "publish_unchanged"
TARGET = 0.05


def _number() -> int | None:
    from bench import BENCHMARKS

    return next((n for n, name in BENCHMARKS.items() if name == NAME), None)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(f"{NAME}: publishing every dataset again when nothing changed")
    group.add_argument(
        "--unchanged-rows",
        type=int,
        default=int(os.environ.get("KHO_BENCH_UNCHANGED_ROWS") or 50_000),
        help="rows of each dataset's mart",
    )
    group.add_argument(
        "--unchanged-datasets",
        type=int,
        default=int(os.environ.get("KHO_BENCH_UNCHANGED_DATASETS") or 0),
        help="how many datasets (0: one per open dataset of the catalog)",
    )


def small(opts: argparse.Namespace) -> None:
    opts.unchanged_rows = min(opts.unchanged_rows, 2_000)
    opts.unchanged_datasets = opts.unchanged_datasets or 3


def run(opts: argparse.Namespace, workdir: Path) -> dict:
    import psycopg

    from bench.publish_datastore import _purge, make_mart
    from kho.catalog import Publish, catalog
    from kho.operations import ckan_server
    from kho.settings import settings
    from publishers.ckan import PublishResult, publish_all
    from publishers.metadata import ckan_name
    from publishers.portal import client

    s = settings()
    ckan_server.start(s)
    api = client(s.ckan_url, s.ckan_api_token)
    models = [ds for ds in catalog().datasets.values() if ds.is_open and ds.publish]
    count = opts.unchanged_datasets or len(models)
    entries = []
    for i in range(count):
        model = models[i % len(models)]
        table = f"bench_unchanged_{i}"
        entries.append(
            model.model_copy(
                update={
                    "id": f"bench_unchanged_{i}",
                    "title_vi": f"{model.title_vi} (thử hiệu năng {i})",
                    "publish": Publish(model=table, period_column="month", area_column="commune_code_2025"),
                }
            )
        )
    passes: list[dict] = []
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        try:
            for ds in entries:
                _purge(api, ckan_name(ds.id))
                make_mart(conn, ds.publish.model, opts.unchanged_rows)
            for label in ("first", "second"):
                start = time.perf_counter()
                results = publish_all(entries, s)
                seconds = time.perf_counter() - start
                failed = {k: str(v) for k, v in results.items() if not isinstance(v, PublishResult)}
                if failed:
                    raise RuntimeError(f"{label} pass: {failed}")
                per_dataset = {
                    k: {"status": r.status, "write_calls": r.write_calls, "parts": r.seconds}
                    for k, r in results.items()
                }
                passes.append(
                    {
                        "pass": label,
                        "seconds": round(seconds, 2),
                        "write_calls": sum(d["write_calls"] for d in per_dataset.values()),
                        "datasets": per_dataset,
                    }
                )
        finally:
            for ds in entries:
                conn.execute(f"drop table if exists marts.{ds.publish.model}")  # noqa: S608
                _purge(api, ckan_name(ds.id))

    first, second = passes
    ratio = second["seconds"] / first["seconds"] if first["seconds"] else None
    return {
        "benchmark": _number(),
        "name": NAME,
        "title": f"Publishing {count} datasets again with nothing changed",
        "sizes": {"datasets": count, "rows_each": opts.unchanged_rows},
        "project": {"label": "second pass", "value": second["seconds"], "unit": "s"},
        "baseline": {"label": "first pass", "value": first["seconds"], "unit": "s"},
        "write_calls": {"first": first["write_calls"], "second": second["write_calls"]},
        "ratio": None if ratio is None else round(ratio, 3),
        "ratio_meaning": "second pass / first pass, time",
        "target": f"0 write calls and <= {TARGET:.0%} of the first pass's time",
        "met": None if ratio is None else (second["write_calls"] == 0 and ratio <= TARGET),
        "passes": passes,
    }


def main(small_run: bool = False) -> dict:
    """Run this benchmark alone (``python -m bench.publish_unchanged [--small]``) and print its figures."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    opts = parser.parse_args([])
    if small_run:
        small(opts)
    with tempfile.TemporaryDirectory(prefix="kho-bench-unchanged-") as tmp:
        result = run(opts, Path(tmp))
    result["small"] = small_run
    print(json.dumps({k: v for k, v in result.items() if k != "passes"}, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main("--small" in sys.argv[1:])
