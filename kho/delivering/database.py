"""The ``database`` connector: run the catalog's SELECT on an agency system's database and write the result
to the inbox as a CSV delivery.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import time
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

from kho.catalog import CatalogError, Dataset
from kho.delivering import resolve
from kho.errors import KhoError
from kho.settings import Settings, settings

FETCH_ROWS = 5_000
CONNECT_TIMEOUT_S = 30


class SourceDatabaseError(KhoError):
    """The agency's database could not be read (unreachable, query failed or took too long)."""


def fetch(ds: Dataset, s: Settings | None = None) -> Path | None:
    """Write the query's result into the dataset's inbox; the file, or None when the result is empty."""
    s = s or settings()
    source = ds.source
    if not (source.connection and source.query):
        raise CatalogError(
            f"{ds.path or ds.id}: field 'source': kind 'database' needs 'connection' and 'query'"
        )
    url = resolve(source.connection, ds, s, field="connection")
    columns = [c.name for c in ds.columns]
    inbox = s.inbox_dir / ds.id
    inbox.mkdir(parents=True, exist_ok=True)
    part = inbox / f".{ds.id}.{os.getpid()}.part"  # hidden: landing does not pick up a file being written
    digest = hashlib.sha256()
    rows = 0
    # The whole fetch has source.deadline_s: each statement (the query, each FETCH) may take what is left,
    # and the rows are read only while some is left. It may write at most source.max_bytes.
    ends = time.monotonic() + source.deadline_s
    connect_timeout = max(1, min(CONNECT_TIMEOUT_S, int(source.deadline_s)))
    try:
        with psycopg.connect(url, connect_timeout=connect_timeout, application_name=f"kho:{ds.id}") as conn:
            conn.read_only = True
            with conn.cursor(name=f"kho_{ds.id}") as cur, part.open("w", encoding="utf-8", newline="") as f:
                cur.itersize = FETCH_ROWS
                _time_left(conn, ds, url, ends)
                cur.execute(ordered_query(ds))
                out = _Hashing(f, digest, ds, url, source.max_bytes)
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(columns)
                for row in cur:
                    writer.writerow([csv_value(v) for v in row])
                    rows += 1
                    if rows % FETCH_ROWS == 0:
                        _time_left(conn, ds, url, ends)
    except psycopg.Error as exc:
        part.unlink(missing_ok=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, psycopg.errors.QueryCanceled) and time.monotonic() >= ends - 1:
            first = (
                f"expected the whole result within {source.deadline_s:g} s (source.deadline_s), found {first}"
            )
        raise SourceDatabaseError(f"{ds.id}: source database {_where(url)}: {first}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if rows == 0:
        part.unlink()
        return None
    target = inbox / f"{ds.id}-{digest.hexdigest()[:16]}.csv"
    part.replace(target)
    return target


def ordered_query(ds: Dataset) -> sql.Composed:
    """The catalog's query as a subquery: its catalog columns, by name, in a total order (keys first)."""
    assert ds.source.query is not None
    body = ds.source.query.strip().rstrip(";").strip()
    names = [c.name for c in ds.columns]
    keys = [c.name for c in ds.columns if c.key]
    order = keys + [n for n in names if n not in keys]
    return sql.SQL("select {columns} from (\n{body}\n) as delivery order by {order}").format(
        columns=sql.SQL(", ").join(map(sql.Identifier, names)),
        body=sql.SQL(body),  # the catalog's reviewed SQL, run by a read-only login
        order=sql.SQL(", ").join(map(sql.Identifier, order)),
    )


def csv_value(value: object) -> str:
    """A value as the CSV reader reads it back: ISO dates, '.' decimals without exponent, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _time_left(conn: psycopg.Connection, ds: Dataset, url: str, ends: float) -> None:
    """Let the next statements run only as long as the fetch has left; an error when nothing is left."""
    left = ends - time.monotonic()
    if left <= 0:
        raise SourceDatabaseError(
            f"{ds.id}: source database {_where(url)}: expected the whole result within"
            f" {ds.source.deadline_s:g} s (source.deadline_s), found it still coming"
        )
    conn.execute("select set_config('statement_timeout', %s, true)", [str(max(1, int(left * 1000)))])


class _Hashing:
    """A text file that also feeds what is written, as UTF-8, to a hash, up to ``limit`` bytes."""

    def __init__(self, f, digest, ds: Dataset, url: str, limit: int) -> None:
        self.f, self.digest, self.ds, self.url, self.limit = f, digest, ds, url, limit
        self.written = 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.written += len(data)
        if self.written > self.limit:
            raise SourceDatabaseError(
                f"{self.ds.id}: source database {_where(self.url)}: expected a result of at most"
                f" {self.limit:,} bytes as CSV (source.max_bytes), found more"
            )
        self.digest.update(data)
        return self.f.write(text)


def _where(url: str) -> str:
    """host:port/database of a URL, without the login."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"
