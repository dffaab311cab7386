"""Airflow's local settings for Kho (``kho.operations.airflow.airflow_env`` puts this folder on Airflow's path).

Kho's own Airflow keeps its metadata in SQLite, in WAL mode. SQLite's default then syncs the disk at
every commit, and a DAG run commits dozens of times; ``synchronous=NORMAL`` is what SQLite recommends
with WAL: no corruption on a crash, only the last commits may be lost on a power cut, which for a test
run's bookkeeping is nothing. A PostgreSQL metadata database (docker-compose.yml) is left untouched.
"""

from sqlalchemy import event
from sqlalchemy.engine import Engine


@event.listens_for(Engine, "connect")
def _sqlite_synchronous_normal(dbapi_connection, _record) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("pragma synchronous = normal")
        cursor.close()
