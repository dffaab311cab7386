"""Kho's Airflow on one machine: its settings, its metadata database in Kho's PostgreSQL, its login, and
its components (api-server, scheduler, dag-processor, triggerer) run as services under supervisord."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

from kho.operations import services
from kho.settings import PRIVATE_UMASK, Settings, settings

DATABASE = "airflow"
ADMIN = "kho_admin"
# The components `kho up` runs (airflow <component>), each a supervised program.
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Pools the DAGs use: as many warehouse DAGs' dbt builds at once as this machine has cores.
POOLS = {"dbt": (os.cpu_count() or 2, "dbt builds of the warehouse DAGs running at once")}


def _private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _secret(s: Settings, name: str) -> str:
    """A secret of this Airflow home, generated on first use and kept mode 600."""
    path = s.airflow_home / "secrets" / name
    if not path.is_file():
        _private(path, secrets.token_urlsafe(24))
    return path.read_text(encoding="utf-8").strip()


def passwords_file(s: Settings) -> Path:
    """The UI login's password (SimpleAuthManager's file, mode 600): user ``kho_admin``."""
    path = s.airflow_home / "passwords.json"
    if not path.is_file():
        _private(path, json.dumps({ADMIN: _secret(s, "admin_password")}) + "\n")
    return path


def admin_password(s: Settings | None = None) -> str:
    s = s or settings()
    return json.loads(passwords_file(s).read_text(encoding="utf-8"))[ADMIN]


def metadata_url(s: Settings) -> str:
    return s.database_url(DATABASE).replace("postgresql://", "postgresql+psycopg://", 1)


EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}


def executor(s: Settings) -> str:
    if s.airflow_executor not in EXECUTORS:
        raise services.ServiceError(
            f"KHO_AIRFLOW_EXECUTOR: expected one of {', '.join(EXECUTORS)}, found {s.airflow_executor!r}"
        )
    return EXECUTORS[s.airflow_executor]


def broker_url(s: Settings) -> str:
    """Celery's broker: Kho's Redis, database 1 (CKAN uses database 0), as docker-compose.yml sets it."""
    return s.value("AIRFLOW__CELERY__BROKER_URL") or s.redis_url.rsplit("/", 1)[0] + "/1"


def celery_env(s: Settings) -> dict[str, str]:
    """The CeleryExecutor's settings: the same variables docker-compose.yml gives its Airflow services."""
    if executor(s) != "CeleryExecutor":
        return {}
    return {
        "AIRFLOW__CELERY__BROKER_URL": broker_url(s),
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url(s),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": s.value("AIRFLOW__CELERY__WORKER_CONCURRENCY") or "2",
        # Airflow's Celery settings, plus the libraries each worker imports once (not each task)
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "flow.workers.CELERY_CONFIG",
    }


def hostname() -> str:
    """The name a task instance records as where it ran (``AIRFLOW__CORE__HOSTNAME_CALLABLE``): the Celery
    worker's own name when it runs under one (two workers on one machine are told apart), else the host."""
    import socket

    return os.environ.get("KHO_WORKER_NAME") or socket.getfqdn()


def airflow_env(s: Settings | None = None) -> dict[str, str]:
    s = s or settings()
    home = s.airflow_home
    bin_dir = str(s.venvs / "main" / "bin")
    return {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(s.repo / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor(s),
        **celery_env(s),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "kho.operations.airflow.hostname",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(s.log_server_port),
        # a task whose worker died (SIGKILL, a lost machine) is failed, and retried, within a minute; a
        # failed task is retried after a minute (doubling each time, dags/kho_land.py); both settable
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": s.value(
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"
        )
        or "60",
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": s.value("AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY") or "60",
        "AIRFLOW__CORE__PARALLELISM": "4",  # 2 cores: the default 32 would start 32 workers
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(s)),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(s),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url(s),  # psycopg 3 is async too: no asyncpg
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",  # a task's own lines (what it landed, skipped, refused) reach its log
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # task logs hold rows and names from deliveries: the owner's alone (Airflow chmods them itself)
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(s.airflow_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(s, "jwt_secret"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{s.airflow_port}/execution/",
        # A changed DAG file is parsed again at once (Airflow parses files newer than their last parse
        # first); the DAG files are parsed again every 10 minutes anyway, which is how a dataset added to
        # the catalog gets its DAGs (`kho run` of a DAG Airflow does not know yet marks the DAG files
        # changed). Every 30 s (Airflow's default) kept the dag-processor at about a sixth of a core
        # while the end-to-end tests ran (10 s of CPU a minute), every 2 minutes at 2% of a core when idle.
        # Parsing may take long on a busy 2-core machine: 30 s (the default timeout) made tasks miss their DAG.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "240",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
        # With nothing to do, the scheduler looks for work every 2 s, not every second (its loop costs about
        # 30 ms of CPU: 3% of a core at 1 s); a delivery's run starts at most a second later for it.
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "2",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "GX_ANALYTICS_ENABLED": "False",
        "NO_PROXY": "*",
        "KHO_HOME": str(s.home),
        "KHO_PORT_BASE": str(s.port_base),
        **({"KHO_POSTGRES_URL": s.external_postgres} if s.external_postgres else {}),
        **{name: os.environ[name] for name in ("KHO_REPO", "KHO_CATALOG_DIR") if os.environ.get(name)},
    }


def airflow_bin(s: Settings | None = None) -> str:
    return str((s or settings()).venv_bin("main", "airflow"))


def migrate(s: Settings | None = None) -> None:
    """Create or upgrade Airflow's metadata database (``airflow`` on Kho's PostgreSQL server)."""
    s = s or settings()
    s.airflow_home.mkdir(parents=True, exist_ok=True, mode=0o700)
    services.ensure_database(DATABASE, s=s)
    stamp = s.airflow_home / ".migrated"
    version = f"{_version_marker(s)} {metadata_url(s).rpartition('@')[2]} {sorted(POOLS.items())}"
    if stamp.exists() and stamp.read_text() == version:
        return
    result = subprocess.run(
        [airflow_bin(s), "db", "migrate"],
        env={**os.environ, **airflow_env(s)},
        umask=PRIVATE_UMASK,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise services.ServiceError(f"airflow db migrate failed:\n{result.stderr[-2000:]}")
    ensure_pools(airflow_bin(s), {**os.environ, **airflow_env(s)})
    stamp.write_text(version)


def ensure_pools(airflow: str = "airflow", env: dict[str, str] | None = None) -> None:
    """Create or update the pools the DAGs use (``airflow pools set``), in the Airflow ``env`` names."""
    for pool, (slots, description) in POOLS.items():
        result = subprocess.run(
            [airflow, "pools", "set", pool, str(slots), description],
            env=env,
            umask=PRIVATE_UMASK,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise services.ServiceError(f"airflow pools set {pool} failed:\n{result.stderr[-2000:]}")


def _version_marker(s: Settings) -> str:
    lock = s.repo / "requirements" / "main.lock.txt"
    return str(lock.stat().st_mtime_ns) if lock.exists() else "0"


def programs(s: Settings) -> dict[str, tuple[list[str], dict[str, str], Path]]:
    """Airflow's components as supervised programs: name -> (command, environment, working directory).
    With the CeleryExecutor, ``s.airflow_workers`` Celery workers too, each in a folder of its own."""
    env = airflow_env(s)
    found = {f"airflow-{c}": ([airflow_bin(s), c], env, s.airflow_home) for c in COMPONENTS}
    if executor(s) == "CeleryExecutor":
        host = os.uname().nodename
        for i in range(1, s.airflow_workers + 1):
            name = f"kho-worker-{i}@{host}"
            folder = s.airflow_home / "workers" / f"worker-{i}"
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            found[f"airflow-worker-{i}"] = (
                [airflow_bin(s), "celery", "worker", "--celery-hostname", name],
                {
                    **env,
                    "KHO_WORKER_NAME": name,
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(s.log_server_port + i),
                },
                folder,
            )
    return found


def dags_test(dag_id: str, s: Settings | None = None, log: Path | None = None) -> subprocess.CompletedProcess:
    """One run of ``dag_id`` in this process's own scheduler loop (``airflow dags test``)."""
    s = s or settings()
    log = log or s.log_dir / f"airflow-{dag_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        return subprocess.run(
            [airflow_bin(s), "dags", "test", dag_id],
            env={**os.environ, **airflow_env(s)},
            umask=PRIVATE_UMASK,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def dags_test_many(
    dag_file: Path, dag_ids: list[str], s: Settings | None = None, log: Path | None = None
) -> subprocess.CompletedProcess:
    """One run of each DAG of ``dag_file`` in one process (:mod:`kho.operations.dag_runner`; benchmark 4)."""
    s = s or settings()
    log = log or s.log_dir / "airflow-runs.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        return subprocess.run(
            [str(s.venv_bin("main", "python")), "-m", "kho.operations.dag_runner", str(dag_file), *dag_ids],
            env={**os.environ, **airflow_env(s)},
            umask=PRIVATE_UMASK,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
