"""A mart table as the publisher needs it: read from the warehouse, written as CSV and as DataStore records.

Pure functions over a :class:`Table`, except :func:`read_table`; the CKAN side lives in ``publishers.ckan``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

# PostgreSQL type (as format_type prints it, without modifiers) -> DataStore field type
DATASTORE_TYPES = {
    "text": "text",
    "character varying": "text",
    "character": "text",
    "smallint": "int2",
    "integer": "int4",
    "bigint": "int8",
    "numeric": "numeric",
    "real": "float4",
    "double precision": "float8",
    "boolean": "bool",
    "date": "date",
    "time without time zone": "time",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "json": "json",
    "jsonb": "json",
}

# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
UTF8_BOM = b"\xef\xbb\xbf"  # so that Excel shows Vietnamese diacritics


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str  # e.g. "numeric", "integer", "text"

    @property
    def datastore_type(self) -> str:
        return DATASTORE_TYPES.get(self.pg_type, "text")


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: list[Column]
    rows: list[tuple]

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


class TableNotFound(LookupError):
    pass


def read_table(conn: psycopg.Connection, schema: str, name: str) -> Table:
    """All rows of ``schema.name``, ordered by every column so the same content always reads the same."""
    columns = [
        Column(col, pg_type)
        for col, pg_type in conn.execute(
            """
            select a.attname, regexp_replace(format_type(a.atttypid, a.atttypmod), '\\(.*\\)', '')
            from pg_attribute a
            join pg_class c on c.oid = a.attrelid
            join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped
            order by a.attnum
            """,
            [schema, name],
        )
    ]
    if not columns:
        raise TableNotFound(f"table {schema}.{name} does not exist or has no columns")
    query = sql.SQL("select {} from {} order by {}").format(
        sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
        sql.Identifier(schema, name),
        sql.SQL(", ").join(sql.Literal(i) for i in range(1, len(columns) + 1)),
    )
    return Table(schema, name, columns, conn.execute(query).fetchall())


# --- CSV ------------------------------------------------------------------------------------------


def csv_cell(value: Any) -> str:
    """A value as CSV text: empty for NULL, ``true``/``false``, ISO dates, exact decimals.

    Text that a spreadsheet would run as a formula gets a leading apostrophe. Numbers are never
    changed: ``-5`` in a numeric column is a number, not a formula.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_PREFIXES) else value
    return str(value)


def to_csv(table: Table) -> bytes:
    """The table as UTF-8 CSV with a byte-order mark and a header of column names."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(c.name for c in table.columns)
    writer.writerows([csv_cell(v) for v in row] for row in table.rows)
    return UTF8_BOM + out.getvalue().encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- DataStore ------------------------------------------------------------------------------------


def datastore_fields(table: Table, descriptions: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``fields`` for ``datastore_create``: typed from PostgreSQL, described (data dictionary) if known.

    A description "Diện tích gieo trồng (ha). / Planted area (hectares)." gives the label
    "Diện tích gieo trồng (ha)" (its Vietnamese part) and the whole text as notes.
    """
    descriptions = descriptions or {}
    fields = []
    for col in table.columns:
        field: dict[str, Any] = {"id": col.name, "type": col.datastore_type}
        text = " ".join((descriptions.get(col.name) or "").split())
        if text:
            field["info"] = {"label": text.split(" / ")[0].rstrip(". "), "notes": text}
        fields.append(field)
    return fields


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: the DataStore casts the text to numeric
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return value


def records(table: Table, chunk_size: int) -> list[list[dict[str, Any]]]:
    """The rows as DataStore records (JSON-ready dicts), in chunks of ``chunk_size``."""
    names = [c.name for c in table.columns]
    all_records = [{n: _json_value(v) for n, v in zip(names, row, strict=True)} for row in table.rows]
    return [all_records[i : i + chunk_size] for i in range(0, len(all_records), chunk_size)] or [[]]
