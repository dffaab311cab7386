"""A database of a benchmark's own on Kho's PostgreSQL server, reached through Kho's own ``Settings``.

Benchmarks 8 and 9 fill tables of millions of rows into the very schemas the pipeline uses (``marts``,
``raw_agriculture``): in a database of their own, next to the warehouse, nobody's demo or test data is
touched. Kho's code takes the database from ``Settings.warehouse_url``; :class:`DatabaseSettings` names
another database there and changes nothing else, so ``kho.validating.quality.validate`` and ``kho.conforming.dbt.run_dbt`` run
exactly as in the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import psycopg
from psycopg import sql

from kho.settings import Settings


@dataclass(frozen=True)
class DatabaseSettings(Settings):
    """Kho's settings with the warehouse in another database of the same server (and another home)."""

    database: str = "kho"

    @property
    def warehouse_url(self) -> str:
        return self.database_url(self.database)


def fresh(database: str, home: Path | None = None) -> DatabaseSettings:
    """Start Kho's PostgreSQL if needed, create ``database`` afresh; settings whose warehouse it is."""
    from kho.operations.services import start_postgres
    from kho.settings import settings

    current = settings()
    start_postgres(current)
    values = {f.name: getattr(current, f.name) for f in fields(Settings)}
    if home is not None:  # a scratch home on the same server: reach it with the server's own URL (password)
        values["home"] = home
        values["external_postgres"] = current.postgres_admin_url
    s = DatabaseSettings(**values, database=database)
    drop(s)
    with psycopg.connect(s.database_url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} encoding 'UTF8' template template0").format(sql.Identifier(database))
        )
    return s


def drop(s: DatabaseSettings) -> None:
    with psycopg.connect(s.database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(s.database)))


def ensure_group_roles(s: Settings, names: list[str]) -> None:
    """The reader roles dbt's grants name exist on every Kho server after ``kho up``; create them (no
    login, no rights) only where they are missing, never altering one that exists."""
    with psycopg.connect(s.database_url("postgres"), autocommit=True) as conn:
        for name in names:
            if not conn.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone():
                conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(name)))
