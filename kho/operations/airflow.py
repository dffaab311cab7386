"""Kho's Airflow: its home under ``$KHO_HOME/airflow``, its settings, and real DAG runs.

``kho run`` runs DAGs with ``airflow dags test``: a real DAG run (scheduler logic, task SDK,
XComs, asset events) in one process, without a scheduler daemon. ``make airflow`` starts
``airflow standalone`` with the same settings for engineers who want the UI.

Every Airflow process runs with umask 077 (its database, generated passwords and logs are the owner's
alone): the ``kho`` command sets it, the runs here pass it on, ``make airflow`` sets it in its shell.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kho.settings import PRIVATE_UMASK, Settings, settings


def airflow_env(s: Settings | None = None) -> dict[str, str]:
    s = s or settings()
    home = s.airflow_home
    bin_dir = str(s.venvs / "main" / "bin")
    return {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        # kho/operations/airflow_config holds airflow_local_settings.py (SQLite tuning; see there).
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(s.repo / "kho" / "airflow_config"), os.environ.get("PYTHONPATH", "")) if p
        ),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(s.repo / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # task logs hold rows and names from deliveries: the owner's alone (Airflow chmods them itself)
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
        "AIRFLOW__API__PORT": str(s.airflow_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{s.airflow_port}/execution/",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "GX_ANALYTICS_ENABLED": "False",
        "NO_PROXY": "*",
        "KHO_HOME": str(s.home),
        "KHO_PORT_BASE": str(s.port_base),
        **({"KHO_POSTGRES_URL": s.external_postgres} if s.external_postgres else {}),
    }


def airflow_bin(s: Settings | None = None) -> str:
    return str((s or settings()).venv_bin("main", "airflow"))


def migrate(s: Settings | None = None) -> None:
    """Create or upgrade Airflow's metadata database (SQLite under ``$KHO_HOME/airflow``)."""
    s = s or settings()
    s.airflow_home.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = s.airflow_home / ".migrated"
    version = _version_marker(s)
    if stamp.exists() and stamp.read_text() == version:
        return
    subprocess.run(
        [airflow_bin(s), "db", "migrate"],
        env={**os.environ, **airflow_env(s)},
        umask=PRIVATE_UMASK,
        check=True,
        capture_output=True,
        text=True,
    )
    stamp.write_text(version)


def _version_marker(s: Settings) -> str:
    lock = s.repo / "requirements" / "main.lock.txt"
    return str(lock.stat().st_mtime_ns) if lock.exists() else "0"


def dags_test(dag_id: str, s: Settings | None = None, log: Path | None = None) -> subprocess.CompletedProcess:
    """One real DAG run of ``dag_id``; output goes to ``log`` (default ``logs/airflow-<dag>.log``)."""
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
    """One real run of each DAG of ``dag_file``, in one process (:mod:`kho.operations.dag_runner`)."""
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
