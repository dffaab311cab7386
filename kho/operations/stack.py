"""Bring the whole local stack up or down: PostgreSQL, Redis, CKAN, Airflow's database, dbt manifest."""

from __future__ import annotations

import psycopg

from kho.catalog import catalog
from kho.conforming import access
from kho.conforming.dbt import run_dbt
from kho.landing.land import ensure_raw_table
from kho.meta import ensure_meta_schema
from kho.operations import airflow, services, supervisor
from kho.settings import Settings, settings


def up(
    s: Settings | None = None,
    echo=print,
    before_airflow=None,
    airflow_services: bool = True,
    executor: str | None = None,
    workers: int | None = None,
) -> dict[str, str]:
    """Start (or find running) every service; write ``services.env``; return its values.
    ``before_airflow(s)`` runs once the other services are up, before Airflow starts scheduling (the demo
    starts its stand-ins for agency systems there, so that the first scheduled fetches find them)."""
    from kho.operations import ckan_server

    s = s or settings()
    for d in (s.home, s.run_dir, s.log_dir, s.archive_dir, s.inbox_dir):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    services.secure_home(s)  # what an earlier version left readable to others
    for name in services.stop_legacy(s):  # started by an earlier version, without supervisord
        echo(f"{name} again, now under supervisord (an earlier version started it) ...")
    echo("PostgreSQL ...")
    services.start_postgres(s)
    services.ensure_database("kho", s=s)
    for database in ("postgres", "template1"):  # the warehouse's readers connect to the warehouse only
        services.restrict_database(database, s=s)
    echo("Redis ...")
    services.start_redis(s)
    echo("CKAN ...")
    ckan_server.setup(s)
    ckan_url = ckan_server.start(s)
    echo("Airflow metadata database ...")
    airflow.migrate(s)
    prepare_warehouse(s, echo)
    values = {
        "KHO_CKAN_URL": ckan_url,
        "KHO_CKAN_API_TOKEN_FILE": str(ckan_server.token_file(s)),
        "KHO_CKAN_DATASTORE_WRITE_URL_FILE": str(ckan_server.datastore_write_url_file(s)),
        "KHO_AIRFLOW_HOME": str(s.airflow_home),
        "KHO_AIRFLOW_API_URL": s.airflow_api_url,
    }
    values = services.write_services_env(s, values)
    if before_airflow:
        before_airflow(s)
    if not airflow_services:
        return values
    first = not (s.airflow_home / "passwords.json").exists()
    celery = (executor or s.airflow_executor) == "celery"
    echo(
        "Airflow (api-server, scheduler, dag-processor, triggerer"
        + (f", {workers or s.airflow_workers} Celery workers" if celery else "")
        + ") under supervisord ..."
    )
    start_airflow(s, executor, workers)
    if first:  # printed once; the file is the owner's alone
        echo(
            f"Airflow UI at {s.airflow_api_url}: user {airflow.ADMIN}, password "
            f"{airflow.admin_password(s)} (kept in {airflow.passwords_file(s)})"
        )
    return values


def prepare_warehouse(s: Settings, echo=print) -> None:
    """The warehouse's side of Kho, in place and current: the bookkeeping schema, a raw table per catalog
    dataset (dbt's sources exist before the first delivery), the dbt manifest, the reference seeds, and the
    agency roles and grants. Idempotent; `kho up` and docker-compose's airflow-init both run it."""
    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        for ds in catalog().datasets.values():
            ensure_raw_table(conn, ds)
    echo("dbt manifest ...")
    parse = run_dbt(["parse", "--quiet"], s=s, check=False)
    if parse.returncode != 0:
        raise services.ServiceError(f"dbt parse failed:\n{parse.stdout[-2000:]}{parse.stderr[-2000:]}")
    echo("dbt reference seeds ...")
    load_seeds(s)
    echo("agency roles and grants ...")
    access.apply(s)  # kho/conforming/access.py, after the manifest it reads


def start_airflow(s: Settings, executor: str | None = None, workers: int | None = None) -> None:
    """Airflow's components as supervised services; returns when its API answers. ``executor`` (``local``
    or ``celery``) and ``workers``, when given, are written into services.env and kept for later runs."""
    if executor is not None or workers is not None:
        chosen = {"KHO_AIRFLOW_EXECUTOR": executor or s.airflow_executor}
        chosen["KHO_AIRFLOW_WORKERS"] = str(workers or s.airflow_workers)
        services.write_services_env(s, chosen)
        airflow.executor(s)  # a clear error for an unknown executor
    wanted = airflow.programs(s)
    for name in supervisor.programs(s):
        if name.startswith("airflow-") and name not in wanted:  # a worker of an earlier executor
            supervisor.remove_program(s, name)
    # The API server first: a task started before it answers fails (the task runner reports through it),
    # and a scheduler that starts with the others runs the day's overdue DAG runs at once.
    first = {name: program for name, program in wanted.items() if name == "airflow-api-server"}
    for group in (first, wanted):
        for name, (command, env, cwd) in group.items():
            supervisor.add_program(s, name, command, env=env, cwd=cwd)
        supervisor.apply(s)
        wait_for_api(s)


def wait_for_api(s: Settings, timeout: float = 300.0) -> None:
    """Until Airflow's API server answers its health check (a listening port alone is not enough: under
    load it binds well before it serves)."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{s.airflow_api_url}/api/v2/monitor/health", timeout=10) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise services.ServiceError(
        f"Airflow's API server did not answer within {timeout:.0f} s; see {s.log_dir / 'airflow-api-server.log'}"
    )


def stop_airflow(s: Settings) -> bool:
    """Stop Airflow's components and workers (the ``airflow-*`` programs) only: PostgreSQL, Redis, CKAN
    and supervisord stay up. True if any was running."""
    names = [name for name in supervisor.programs(s) if name.startswith("airflow-")]
    return bool(supervisor.stop_programs(s, names))


# The services the others use stop last, in this order.
LAST = ("ckan", "redis", "postgres")


def down(s: Settings | None = None) -> list[str]:
    """Stop every process Kho started (and nothing else), in order: Airflow's components and workers, the
    other programs (the demo's stand-ins), CKAN, Redis, PostgreSQL; then supervisord. Return what was
    stopped."""
    s = s or settings()
    stopped = []
    declared = supervisor.programs(s)
    airflow_programs = [name for name in declared if name.startswith("airflow-")]
    others = [name for name in declared if name not in airflow_programs and name not in LAST]
    if supervisor.stop_programs(s, airflow_programs):
        stopped.append("Airflow (" + ", ".join(n.removeprefix("airflow-") for n in airflow_programs) + ")")
    stopped += supervisor.stop_programs(s, others)
    for name in LAST:
        if name == "postgres":
            if services.stop_postgres(s):
                stopped.append(name)
        else:
            stopped += supervisor.stop_programs(s, [name])
    supervisor.shutdown(s)  # it stopped with its last program; this is for one with nothing declared
    stopped += services.stop_legacy(s)
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
