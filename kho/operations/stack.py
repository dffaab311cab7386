"""Bring the whole local stack up or down: PostgreSQL, Redis, CKAN, Airflow's database, dbt manifest."""

from __future__ import annotations

import psycopg

from kho.catalog import catalog
from kho.conforming import access
from kho.conforming.dbt import run_dbt
from kho.landing.land import ensure_raw_table
from kho.meta import ensure_meta_schema
from kho.operations import airflow, services
from kho.settings import Settings, settings


def up(s: Settings | None = None, echo=print) -> dict[str, str]:
    """Start (or find running) every service; write ``services.env``; return its values."""
    from kho.operations import ckan_server

    s = s or settings()
    for d in (s.home, s.run_dir, s.log_dir, s.archive_dir, s.inbox_dir):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    services.secure_home(s)  # what an earlier version left readable to others
    echo("PostgreSQL ...")
    services.start_postgres(s)
    services.ensure_database("kho", s=s)
    for database in ("postgres", "template1"):  # the warehouse's readers connect to the warehouse only
        services.restrict_database(database, s=s)
    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        for ds in catalog().datasets.values():  # dbt's sources exist before the first delivery
            ensure_raw_table(conn, ds)
    echo("Redis ...")
    services.start_redis(s)
    echo("CKAN ...")
    ckan_server.setup(s)
    ckan_url = ckan_server.start(s)
    echo("Airflow metadata database ...")
    airflow.migrate(s)
    echo("dbt manifest ...")
    parse = run_dbt(["parse", "--quiet"], s=s, check=False)
    if parse.returncode != 0:
        raise services.ServiceError(f"dbt parse failed:\n{parse.stdout[-2000:]}{parse.stderr[-2000:]}")
    echo("dbt reference seeds ...")
    load_seeds(s)
    access.apply(s)  # agency roles and grants (kho/conforming/access.py), after the manifest it reads
    values = {
        "KHO_CKAN_URL": ckan_url,
        "KHO_CKAN_API_TOKEN_FILE": str(ckan_server.token_file(s)),
        "KHO_CKAN_DATASTORE_WRITE_URL_FILE": str(ckan_server.datastore_write_url_file(s)),
        "KHO_AIRFLOW_HOME": str(s.airflow_home),
        "KHO_AIRFLOW_API_URL": s.airflow_api_url,
    }
    return services.write_services_env(s, values)


def down(s: Settings | None = None) -> list[str]:
    """Stop every process Kho started (and nothing else); return what was stopped."""
    from kho.operations import ckan_server

    s = s or settings()
    stopped = []
    last = {"ckan", "redis", "postgres"}  # the services the others use stop last, in this order
    for name in sorted(services.recorded_processes(s) - last):  # Airflow, and what else was started here
        if services.stop_process(s, name):
            stopped.append(name)
    if ckan_server.stop(s):
        stopped.append("ckan")
    if services.stop_process(s, "redis"):
        stopped.append("redis")
    if services.stop_postgres(s):
        stopped.append("postgres")
    return stopped


def load_seeds(s: Settings) -> None:
    """``dbt seed`` when the reference seeds changed since they were last loaded into this warehouse."""
    import hashlib

    seeds = sorted((s.repo / "dbt_project" / "seeds").rglob("*"))
    digest = hashlib.sha256()
    for path in seeds:
        if path.is_file():
            digest.update(path.relative_to(s.repo).as_posix().encode() + path.read_bytes())
    stamp = s.home / "dbt-seeds.sha256"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    # --full-refresh: a changed seed may change its column types, which a plain reload keeps stale.
    result = run_dbt(["seed", "--quiet", "--full-refresh"], s=s, check=False)
    if result.returncode != 0:
        raise services.ServiceError(f"dbt seed failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    stamp.write_text(digest.hexdigest())
    # The reload dropped the views built on the seeds: the next `kho run` must rebuild the warehouse.
    (s.home / "warehouse.manifest.sha256").unlink(missing_ok=True)
