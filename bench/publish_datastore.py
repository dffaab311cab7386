"""Publishing a large open dataset into the DataStore: Kho's publisher against ckanext-xloader.

A mart of ``--publish-rows`` rows (1,000,000 by default; commune codes, Vietnamese names, years, months,
numbers) is published by ``publishers.ckan.publish`` into the running portal: CSV written and uploaded,
metadata, DataStore table created, rows copied from the warehouse into it (COPY) with their full-text
column, indexes built, then the files (CSV, JSON, XLSX) written and uploaded. Then ckanext-xloader loads
the CSV Kho published, as a resource of a second dataset of the same CKAN, with its own job run
synchronously (``xloader_data_into_datastore_``, what ``ckan xloader submit --sync`` runs): download,
re-encode, COPY, full-text column, indexes. Kho's figure is the time until its rows are in the DataStore
with their indexes (queryable and searchable: the publisher loads the DataStore before it writes the
files); xloader's is its whole job, which ends at the same point. The ratio is Kho / xloader in rows per
second. Reported beside them: Kho's whole publish (files included) and the moment xloader's log says
"Data now available to users" (before its indexes).

For scale, the same publisher also loads a slice of the rows through the DataStore API instead of COPY
(``datastore_upsert``, ``--publish-api-rows``), the way portals without database access publish.

xloader is not part of Kho: when CKAN's environment lacks it, it is installed for the benchmark into a
folder of its own under the Kho home (``uv pip install --target``, without touching CKAN's pinned
packages) and put on that one process's path, with a copy of ``ckan.ini`` that enables the plugin.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAME = "publish_datastore"
DATASET = "bench_publish_datastore"
TABLE = "bench_publish_datastore"
XLOADER = "ckanext-xloader==2.6.0"
# ckanext-xloader's own dependencies; CKAN's environment already has the rest (requests, urllib3, ...)
XLOADER_DEPS = [
    "tabulator==1.53.5", "unidecode==1.4.0", "chardet==7.6.0", "attrs", "boto3", "botocore", "s3transfer",
    "jmespath", "ijson", "jsonlines", "linear-tsv", "unicodecsv", "openpyxl", "et-xmlfile", "xlrd",
]  # fmt: skip
TARGET = 1.5


def _number() -> int | None:
    from bench import BENCHMARKS

    return next((n for n, name in BENCHMARKS.items() if name == NAME), None)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(f"{NAME}: publishing into the DataStore against ckanext-xloader")
    group.add_argument("--publish-rows", type=int, default=_env_int("KHO_BENCH_PUBLISH_ROWS", 1_000_000))
    group.add_argument(
        "--publish-api-rows",
        type=int,
        default=_env_int("KHO_BENCH_PUBLISH_API_ROWS", 50_000),
        help="rows loaded through datastore_upsert for comparison (0: skip)",
    )
    group.add_argument("--no-xloader", action="store_true", help="do not install or run ckanext-xloader")
    group.add_argument("--keep-published", action="store_true", help="leave the benchmark datasets in CKAN")


def small(opts: argparse.Namespace) -> None:
    opts.publish_rows = min(opts.publish_rows, 20_000)
    opts.publish_api_rows = min(opts.publish_api_rows, 5_000)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def run(opts: argparse.Namespace, workdir: Path) -> dict:
    import psycopg

    from kho.operations import ckan_server
    from kho.settings import settings
    from publishers.metadata import ckan_name
    from publishers.portal import client

    s = settings()
    ckan_server.start(s)
    api = client(s.ckan_url, s.ckan_api_token)
    rows = opts.publish_rows
    names = [ckan_name(DATASET), ckan_name(DATASET) + "-api", ckan_name(DATASET) + "-xloader"]
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        for name in names:
            _purge(api, name)
        make_mart(conn, TABLE, rows)
        try:
            kho = _publish(s, DATASET, TABLE, "copy")
            csv_path = workdir / "published.csv"
            _download(api, kho["resource_id"], csv_path)
            api_way = None
            if opts.publish_api_rows:
                make_mart(conn, TABLE + "_api", opts.publish_api_rows)
                api_way = _publish(s, DATASET + "_api", TABLE + "_api", "api")
            xloader = None if opts.no_xloader else run_xloader(s, api, csv_path, names[2], rows, workdir)
        finally:
            conn.execute(f"drop table if exists marts.{TABLE}, marts.{TABLE}_api")  # noqa: S608
            if not opts.keep_published:
                for name in names:
                    _purge(api, name)

    kho_rate = rows / kho["queryable_seconds"]
    result = {
        "benchmark": _number(),
        "name": NAME,
        "title": f"Publishing {rows:,} rows into the DataStore (Kho's publisher vs ckanext-xloader)",
        "sizes": {"rows": rows, "csv_bytes": csv_path.stat().st_size if csv_path.exists() else None},
        "project": {
            "label": "Kho publish, rows in the DataStore",
            "value": round(kho_rate),
            "unit": "rows/s",
        },
        "kho_whole_publish_rows_per_s": round(rows / kho["seconds"]),
        "kho": kho,
        "kho_datastore_only_rows_per_s": round(
            rows / max(sum(v for k, v in kho["parts"].items() if k.startswith("datastore")), 1e-9)
        ),
        "api_way": api_way
        and {**api_way, "rows_per_s": round(api_way["rows"] / api_way["seconds"]), "rows": api_way["rows"]},
        "target": f">= {TARGET} x xloader's rows/s",
        "ratio_meaning": "Kho rows/s until its rows are in the DataStore with their indexes / xloader rows/s "
        "of its whole job (download, COPY, full text, indexes)",
    }
    if xloader is None or "skipped" in xloader:
        reason = (xloader or {}).get("skipped", "--no-xloader")
        result |= {"baseline": {"skipped": reason}, "ratio": None, "met": None}
        return result
    xl_rate = rows / xloader["seconds"]
    ratio = kho_rate / xl_rate
    result |= {
        "baseline": {"label": "ckanext-xloader", "value": round(xl_rate), "unit": "rows/s"},
        "xloader": xloader,
        "ratio": round(ratio, 2),
        "met": ratio >= TARGET,
    }
    return result


def make_mart(conn, table: str, rows: int) -> None:
    """A commune-level table shaped like the province's marts, generated in the warehouse."""
    conn.execute("create schema if not exists marts")
    conn.execute(f"drop table if exists marts.{table}")
    conn.execute(
        f"""
        create table marts.{table} as
        select
            lpad((10000 + mod(i, 9000))::text, 5, '0') as commune_code_2025,
            'Xã ' || (array['Hòa Bình', 'Tân Tiến', 'Đồng Tâm', 'Phú Thịnh', 'Minh Châu', 'Quyết Thắng',
                            'Thượng Lâm', 'Yên Nguyên'])[1 + mod(i, 8)] || ' ' || mod(i, 997) as commune_name,
            2000 + mod(i, 25) as year,
            make_date(2000 + mod(i, 25), 1 + mod(i, 12), 1) as month,
            (array['lúa', 'ngô', 'sắn', 'khoai lang', 'lạc', 'đậu tương'])[1 + mod(i, 6)] as crop,
            (array['đông xuân', 'hè thu', 'mùa', 'cả năm'])[1 + mod(i, 4)] as season,
            round(mod(i * 37, 100000) / 100.0, 2) as planted_area_ha,
            round(mod(i * 53, 1000000) / 10.0, 1) as production_t,
            round(mod(i * 7, 900) / 100.0 + 1, 2) as yield_t_per_ha,
            mod(i, 10) = 0 as is_preliminary,
            case when mod(i, 50) = 0 then 'Số liệu ước tính, chưa thẩm định' end as note
        from generate_series(1, {int(rows)}) as i
        """  # noqa: S608
    )
    conn.execute(f"analyze marts.{table}")


def _publish(s, dataset_id: str, table: str, how: str) -> dict:
    from kho.catalog import Publish, catalog
    from publishers.ckan import publish

    ds = (
        catalog()
        .dataset("crop_statistics")
        .model_copy(
            update={
                "id": dataset_id,
                "title_vi": f"Số liệu thử hiệu năng ({dataset_id})",
                "publish": Publish(model=table, period_column="month", area_column="commune_code_2025"),
            }
        )
    )
    start = time.perf_counter()
    result = publish(ds, s, datastore_load=how)
    seconds = time.perf_counter() - start
    laps = list(result.seconds)
    after = laps[laps.index("datastore") + 1 :] if "datastore" in laps else []
    return {
        "rows": result.rows,
        "seconds": round(seconds, 2),
        # from the call until the DataStore holds the rows with their indexes: what follows is the files
        "queryable_seconds": round(seconds - sum(result.seconds[k] for k in after), 2),
        "parts": result.seconds,
        "write_calls": result.write_calls,
        "resource_id": result.resource_id,
    }


def _download(api, resource_id: str, path: Path) -> None:
    import urllib.request

    url = api.action.resource_show(id=resource_id)["url"]
    with urllib.request.urlopen(url, timeout=600) as response, path.open("wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def _purge(api, name: str) -> None:
    from ckanapi import NotFound

    try:
        api.action.dataset_purge(id=name)
    except NotFound:
        pass


# --- ckanext-xloader -----------------------------------------------------------------------------

XLOADER_JOB = r"""
import json, logging, os, sys, time
import ckanext
if os.environ.get("KHO_XLOADER_PATH"):  # CKAN's namespace package does not look on PYTHONPATH by itself
    ckanext.__path__ = [*ckanext.__path__, os.path.join(os.environ["KHO_XLOADER_PATH"], "ckanext")]
from ckan.cli import CKANConfigLoader
from ckan.config.middleware import make_app

ini, resource_id, token, site_url = sys.argv[1:5]
app = make_app(CKANConfigLoader(ini).get_config())
from ckanext.xloader.jobs import xloader_data_into_datastore_

logger = logging.getLogger("bench.xloader")
handler = logging.StreamHandler()
handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
logger.addHandler(handler)
logger.setLevel(logging.INFO)
logger.propagate = False
job = {"metadata": {"resource_id": resource_id, "ignore_hash": True, "ckan_url": site_url}, "api_key": token}
with app._wsgi_app.test_request_context():
    start = time.perf_counter()
    xloader_data_into_datastore_(job, None, logger)
    seconds = time.perf_counter() - start
print("RESULT " + json.dumps({"seconds": seconds}))
"""


def xloader_path(s) -> Path:
    return s.home / "bench" / "xloader-2.6.0"


def ensure_xloader(s) -> Path | str:
    """The folder holding ckanext-xloader for CKAN's Python; a reason string when it cannot be had."""
    python = s.venv_bin("ckan", "python")
    if subprocess.run([str(python), "-c", "import ckanext.xloader"], capture_output=True).returncode == 0:
        return Path()  # already in CKAN's environment
    target = xloader_path(s)
    if (target / "ckanext" / "xloader").exists():
        return target
    uv = s.repo / ".kho" / "bootstrap" / "bin" / "uv"
    installer = [str(uv), "pip", "install"] if uv.exists() else [str(python), "-m", "pip", "install"]
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [*installer, "--quiet", "--python", str(python), "--target", str(target), "--no-deps",
         XLOADER, *XLOADER_DEPS],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        return f"could not install {XLOADER}: {(done.stderr or done.stdout).strip()[-500:]}"
    return target


def xloader_ini(s, workdir: Path, token: str) -> Path:
    """A copy of the portal's ckan.ini with the xloader plugin on (the running portal is not changed)."""
    from kho.operations import ckan_server

    lines = ckan_server.ini_path(s).read_text(encoding="utf-8").splitlines()
    extra = [
        f"ckanext.xloader.jobs_db.uri = sqlite:///{workdir / 'xloader_jobs.db'}",
        f"ckanext.xloader.api_token = {token}",
        "ckanext.xloader.max_content_length = 2000000000",
        "ckanext.xloader.use_type_guessing = false",
    ]
    out = []
    for line in lines:
        if line.startswith("ckan.plugins ="):
            out.append(line + " xloader")
            out.extend(extra)
        else:
            out.append(line)
    path = workdir / "ckan-xloader.ini"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def run_xloader(s, api, csv_path: Path, name: str, rows: int, workdir: Path) -> dict:
    from kho.operations import ckan_server

    found = ensure_xloader(s)
    if isinstance(found, str):
        return {"skipped": found}
    org = api.action.organization_list(limit=1)
    owner = org[0] if org else api.action.organization_create(name="bench-xloader", title="Bench")["name"]
    package = api.action.package_create(name=name, title="xloader benchmark", owner_org=owner)
    with csv_path.open("rb") as f:
        resource = api.action.resource_create(
            package_id=package["id"], name="xloader.csv", format="CSV", upload=(csv_path.name, f)
        )
    token = s.ckan_api_token
    env = {**os.environ, **ckan_server.ckan_env(s)}
    if found != Path():
        env["PYTHONPATH"] = str(found) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["KHO_XLOADER_PATH"] = str(found)
    ini = xloader_ini(s, workdir, token)
    env["CKAN_INI"] = str(ini)
    log = workdir / "xloader.log"
    started = time.perf_counter()
    done = subprocess.run(
        [str(s.venv_bin("ckan", "python")), "-c", XLOADER_JOB, str(ini), resource["id"], token, s.ckan_url],
        env=env, cwd=ckan_server.ckan_dir(s), capture_output=True, text=True,
    )  # fmt: skip
    log.write_text(done.stdout + done.stderr)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"xloader failed (exit {done.returncode}); log {log}:\n{(done.stderr or '')[-3000:]}"
        )
    seconds = json.loads(lines[-1].removeprefix("RESULT "))["seconds"]
    total = api.action.datastore_search(resource_id=resource["id"], limit=0)["total"]
    if total != rows:
        raise RuntimeError(f"xloader loaded {total} rows of {rows}")
    return {
        "seconds": round(seconds, 2),
        "available_seconds": _available(done.stderr or ""),
        "process_seconds": round(time.perf_counter() - started, 2),
        "rows_loaded": total,
        "installed_at": str(found) if found != Path() else "CKAN's environment",
        "log_tail": (done.stderr or "").strip().splitlines()[-12:],
    }


def _available(log: str) -> float | None:
    """Seconds from xloader's first log line to its "Data now available to users" (before its indexes)."""
    from datetime import datetime

    stamps = []
    for line in log.splitlines():
        try:
            stamps.append((datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"), line))
        except ValueError:
            continue
    ready = next((t for t, line in stamps if "Data now available" in line), None)
    return round((ready - stamps[0][0]).total_seconds(), 2) if ready and stamps else None


def main(small_run: bool = False) -> dict:
    """Run this benchmark alone (``python -m bench.publish_datastore [--small]``) and print its figures."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    opts = parser.parse_args([])
    if small_run:
        small(opts)
    with tempfile.TemporaryDirectory(prefix="kho-bench-publish-") as tmp:
        result = run(opts, Path(tmp))
    result["small"] = small_run
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main("--small" in sys.argv[1:])
