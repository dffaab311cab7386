"""A mart table as the publisher needs it: its shape, its CSV file and its DataStore rows, all streamed.

Nothing here holds the table in memory: PostgreSQL writes the CSV (``COPY ... TO STDOUT``) and the
DataStore rows go from the warehouse to the DataStore database by ``COPY`` in binary, so a table of a
million rows publishes in seconds and in a few MB of memory. Both read the same snapshot (the caller
holds one REPEATABLE READ transaction), so the file and the DataStore always show the same rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO, Any

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
# The DataStore's full-text column, as ckan.ini's ckan.datastore.default_fts_lang searches it
FTS_CONFIG = "simple"
# Bumped whenever the CSV that write_csv makes changes shape, so every dataset is written again.
CSV_FORMAT = "csv1"
# Session settings that fix how PostgreSQL prints values, so the same rows always give the same bytes
STABLE_OUTPUT = (
    "set local datestyle = 'ISO, YMD'; set local timezone = 'UTC'; set local extra_float_digits = 1"
)


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
    rows: int

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


class TableNotFound(LookupError):
    pass


def read_table(conn: psycopg.Connection, schema: str, name: str) -> Table:
    """The shape and row count of ``schema.name``."""
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
    (rows,) = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, name))).fetchone()
    return Table(schema, name, columns, rows)


# Types whose values PostgreSQL hashes as they compare (hash_record_extended); any other (json, xml...)
# makes the fingerprint hash the rows' text instead, which is slower.
HASHABLE = frozenset(DATASTORE_TYPES) - {"json"}


def fingerprint(conn: psycopg.Connection, table: Table) -> str:
    """A cheap stand-in for the CSV's sha256: the columns, the row count and a 64-bit hash of every row,
    summed. Equal fingerprints mean the CSV would come out the same, so a publish with nothing to do need
    not write the file at all; any change of a value, a row or a column, or of :data:`CSV_FORMAT`, shows.

    Values are hashed as PostgreSQL compares them, so a number whose only change is its trailing zeros
    (5.70 -> 5.7) counts as unchanged until something else changes.
    """
    conn.execute(STABLE_OUTPUT)
    row = "hash_record_extended(t, 0)" if all(c.pg_type in HASHABLE for c in table.columns) else None
    hashed = sql.SQL(row or "hashtextextended(t::text, 0)")
    (rows_hash,) = conn.execute(
        sql.SQL("select coalesce(sum({}), 0) from {} as t").format(hashed, table.ident)
    ).fetchone()
    shape = hashlib.sha256(",".join(f"{c.name}:{c.pg_type}" for c in table.columns).encode()).hexdigest()
    return f"{CSV_FORMAT}:{table.rows}:{shape[:16]}:{rows_hash}"


def _order_by(table: Table) -> sql.Composable:
    """Every column, qualified so that it names the table's value and not an output expression."""
    return sql.SQL(", ").join(sql.Identifier("t", c.name) for c in table.columns)


# --- CSV ------------------------------------------------------------------------------------------


def _csv_expression(col: Column) -> sql.Composable:
    """The column as the CSV shows it: text that a spreadsheet would run as a formula gets a leading
    apostrophe; booleans read ``true``/``false``. Numbers are never changed (``-5`` is a number)."""
    ident = sql.Identifier("t", col.name)
    if col.datastore_type == "text":
        prefixes = sql.SQL(", ").join(sql.Literal(p) for p in FORMULA_PREFIXES)
        return sql.SQL(
            "case when left({c}::text, 1) in ({p}) then '''' || {c}::text else {c}::text end as {n}"
        ).format(c=ident, p=prefixes, n=sql.Identifier(col.name))
    return sql.SQL("{}::text as {}").format(ident, sql.Identifier(col.name))


def csv_query(table: Table) -> sql.Composed:
    select = sql.SQL(", ").join(_csv_expression(c) for c in table.columns)
    return sql.SQL("copy (select {} from {} as t order by {}) to stdout (format csv, header true)").format(
        select, table.ident, _order_by(table)
    )


@dataclass(frozen=True)
class CsvFile:
    sha256: str
    size: int


def write_csv(conn: psycopg.Connection, table: Table, out: IO[bytes]) -> CsvFile:
    """Write the table as UTF-8 CSV with a byte-order mark and a header of column names; its sha256.

    Rows are in the order of all their columns, so the same content always gives the same bytes.
    NULL is an empty cell; an empty string is ``""``.
    """
    conn.execute(STABLE_OUTPUT)
    digest = hashlib.sha256(UTF8_BOM)
    out.write(UTF8_BOM)
    size = len(UTF8_BOM)
    with conn.cursor().copy(csv_query(table)) as copy:
        for chunk in copy:
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    out.flush()
    return CsvFile(digest.hexdigest(), size)


# --- DataStore ------------------------------------------------------------------------------------


def datastore_fields(table: Table, info: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``fields`` for ``datastore_create``: typed from PostgreSQL, with the data dictionary if known."""
    info = info or {}
    fields = []
    for col in table.columns:
        field: dict[str, Any] = {"id": col.name, "type": col.datastore_type}
        if info.get(col.name):
            field["info"] = info[col.name]
        fields.append(field)
    return fields


def _full_text(table: Table) -> sql.Composable:
    """What the DataStore's ``_full_text`` column holds: every value's words (as CKAN's trigger makes
    it), with the text search configuration the DataStore queries with."""
    values = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier("t", c.name)) for c in table.columns
    )
    return sql.SQL("to_tsvector({}, concat_ws(' ', {}))").format(sql.Literal(FTS_CONFIG), values)


def datastore_query(table: Table) -> sql.Composed:
    typed = sql.SQL(", ").join(
        sql.SQL("{}::{}").format(sql.Identifier("t", c.name), sql.SQL(c.datastore_type))
        for c in table.columns
    )
    return sql.SQL("copy (select {}, {} from {} as t order by {}) to stdout (format binary)").format(
        _full_text(table), typed, table.ident, _order_by(table)
    )


def datastore_state(conn: psycopg.Connection, resource_id: str) -> tuple[int, list[dict[str, str]]] | None:
    """Rows and columns (``id``, DataStore ``type``) of the DataStore table ``resource_id``; None if
    there is none. Read straight from the DataStore database."""
    columns = conn.execute(
        """
        select a.attname, regexp_replace(format_type(a.atttypid, a.atttypmod), '\\(.*\\)', '')
        from pg_attribute a
        where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
          and a.attname not in ('_id', '_full_text')
        order by a.attnum
        """,
        [sql.Identifier("public", resource_id).as_string(conn)],
    ).fetchall()
    if not columns:
        return None
    (rows,) = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(resource_id))).fetchone()
    return rows, [{"id": name, "type": DATASTORE_TYPES.get(pg_type, pg_type)} for name, pg_type in columns]


def copy_rows(
    source: psycopg.Connection, target: psycopg.Connection, table: Table, resource_id: str, on_half=None
) -> int:
    """Copy the table's rows into the DataStore table ``resource_id`` (in ``target``'s transaction).

    ``on_half`` is called once about half way through (a hook for the crash tests).
    """
    columns = sql.SQL(", ").join(
        [sql.Identifier("_full_text"), *(sql.Identifier(c.name) for c in table.columns)]
    )
    into = sql.SQL("copy {} ({}) from stdin (format binary)").format(sql.Identifier(resource_id), columns)
    source.execute(STABLE_OUTPUT)
    sent = 0
    half = table.rows // 2
    with source.cursor().copy(datastore_query(table)) as out, target.cursor().copy(into) as inp:
        for chunk in out:
            inp.write(chunk)
            sent += len(chunk)
            if on_half is not None and sent > 64 * 1024 and half:
                on_half()
                on_half = None
    return table.rows


def record_batches(conn: psycopg.Connection, table: Table, size: int):
    """The rows as DataStore records (JSON-ready dicts), ``size`` at a time, from a server-side cursor.

    For portals whose DataStore database the publisher cannot reach (``datastore_upsert`` instead of COPY).
    """
    names = [c.name for c in table.columns]
    query = sql.SQL("select {} from {} as t order by {}").format(
        sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier("t", n))
            if table.column(n).datastore_type not in ("text", "bool", "int2", "int4", "int8", "json")
            else sql.Identifier("t", n)
            for n in names
        ),
        table.ident,
        _order_by(table),
    )
    with conn.cursor(name="kho_publish_records") as cur:
        cur.itersize = size
        cur.execute(query)
        while batch := cur.fetchmany(size):
            yield [dict(zip(names, row, strict=True)) for row in batch]
