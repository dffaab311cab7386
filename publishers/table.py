"""A mart table as the publisher needs it: its shape, its download files and its DataStore rows, all streamed.

Nothing here holds the table in memory: the download files (CSV, XLSX, JSON, and GeoJSON when the
table has coordinates) are written together in one pass over a server-side cursor, and the DataStore
rows go from the warehouse to the DataStore database by ``COPY`` in binary, so a table of a million
rows publishes in a few MB of memory. Both read the same snapshot (the caller holds one REPEATABLE
READ transaction), so every file and the DataStore always show the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
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

# The DataStore's full-text column, as ckan.ini's ckan.datastore.default_fts_lang searches it
FTS_CONFIG = "simple"
# ... and the index it builds on it (ckan.datastore.default_fts_index_method)
FTS_INDEX_METHOD = "gin"
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


# --- download files -------------------------------------------------------------------------------

# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
UTF8_BOM = b"\xef\xbb\xbf"  # so that Excel shows Vietnamese diacritics
# Bumped whenever the files that write_files makes change shape, so every dataset is written again.
CSV_FORMAT = "csv1"
XLSX_MAX_ROWS = 1_048_575  # one worksheet below its header row; a larger table has no XLSX
# (longitude, latitude) columns that make a table a set of points, published as GeoJSON too
COORDINATES = (("longitude", "latitude"), ("lng", "lat"), ("lon", "lat"))
INTEGERS = frozenset({"int2", "int4", "int8"})
NUMBERS = INTEGERS | {"numeric", "float4", "float8"}
# Control characters an XLSX file cannot hold (as openpyxl's ILLEGAL_CHARACTERS_RE); dropped there only
XLSX_ILLEGAL = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32)])


@dataclass(frozen=True)
class FileFormat:
    key: str  # csv, xlsx, json, geojson: the file's extension too
    label: str  # CKAN's format field, as the EU file-type vocabulary names it
    media_type: str  # IANA


CSV = FileFormat("csv", "CSV", "text/csv")
XLSX = FileFormat("xlsx", "XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
JSON = FileFormat("json", "JSON", "application/json")
GEOJSON = FileFormat("geojson", "GeoJSON", "application/geo+json")


@dataclass(frozen=True)
class Download:
    """One written file: its format, where it is, its sha256 and byte size."""

    format: FileFormat
    path: Path
    sha256: str
    size: int


def coordinates(table: Table) -> tuple[str, str] | None:
    """The (longitude, latitude) columns when the table's rows are places, else None."""
    for lon, lat in COORDINATES:
        x, y = table.column(lon), table.column(lat)
        if x and y and x.datastore_type in NUMBERS and y.datastore_type in NUMBERS:
            return lon, lat
    return None


def file_formats(table: Table) -> list[FileFormat]:
    """What the table is published as: CSV, XLSX (when it fits a worksheet), JSON, GeoJSON (points)."""
    found = [CSV]
    if table.rows <= XLSX_MAX_ROWS:
        found.append(XLSX)
    found.append(JSON)
    if coordinates(table):
        found.append(GEOJSON)
    return found


def rows_query(table: Table) -> sql.Composed:
    """Every row, each value as PostgreSQL prints it (under :data:`STABLE_OUTPUT`), in a stable order."""
    select = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier("t", c.name)) for c in table.columns
    )
    return sql.SQL("select {} from {} as t order by {}").format(select, table.ident, _order_by(table))


class _Sink:
    """A file being written, hashed and counted as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.open("wb")
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)
        self.file.write(data)

    def close(self, fmt: FileFormat) -> Download:
        self.file.close()
        return Download(fmt, self.path, self.sha.hexdigest(), self.size)


def _guarded(text: str) -> str:
    """Text that a spreadsheet would run as a formula, with a leading apostrophe (numbers never reach here)."""
    return "'" + text if text[:1] in FORMULA_PREFIXES else text


def _csv_cell(value: str | None) -> str:
    """A value as PostgreSQL's ``COPY ... (format csv)`` writes it: NULL is an empty cell, an empty string ``""``."""
    if value is None:
        return ""
    if value == "" or value == "\\." or any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _typed(col: Column) -> Callable[[str], Any]:
    """From the value's text to what XLSX and JSON hold: numbers, booleans, dates, text."""
    kind = col.datastore_type
    if kind in INTEGERS:
        return int
    if kind in NUMBERS:
        return lambda v: _finite(Decimal(v))
    if kind == "bool":
        return lambda v: v == "true"
    if kind == "date":
        return date.fromisoformat
    if kind in ("timestamp", "timestamptz"):
        return _timestamp
    return str


def _finite(value: Decimal) -> Decimal | None:
    return value if value.is_finite() else None  # NaN and infinities: no JSON number, no cell value


def _timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)  # PostgreSQL's "2025-03-01 08:00:00+00"
    return moment.astimezone(UTC) if moment.tzinfo else moment


def _json_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, date):  # datetime too; UTC ones end in +00:00
        return '"' + value.isoformat() + '"'
    return json.dumps(value, ensure_ascii=False)


class _CsvWriter:
    def __init__(self, sink: _Sink, table: Table) -> None:
        self.sink = sink
        self.text = [c.datastore_type == "text" for c in table.columns]
        sink.write(UTF8_BOM)
        sink.write((",".join(_csv_cell(c.name) for c in table.columns) + "\n").encode())

    def row(self, values: tuple[str | None, ...], typed: list[Any]) -> None:
        cells = (
            _csv_cell(_guarded(v) if is_text and v else v)
            for v, is_text in zip(values, self.text, strict=True)
        )
        self.sink.write((",".join(cells) + "\n").encode())


class _JsonWriter:
    """An array of objects, one per row, one row a line: ``[{"year": 2024, ...},\\n...]``."""

    def __init__(self, sink: _Sink, table: Table) -> None:
        self.sink = sink
        self.keys = [json.dumps(c.name, ensure_ascii=False) + ": " for c in table.columns]
        self.first = True
        sink.write(b"[")

    def row(self, values: tuple[str | None, ...], typed: list[Any]) -> None:
        body = ", ".join(k + _json_value(v) for k, v in zip(self.keys, typed, strict=True))
        self.sink.write((b"\n" if self.first else b",\n") + ("{" + body + "}").encode())
        self.first = False

    def finish(self) -> None:
        self.sink.write(b"\n]\n")


class _GeoJsonWriter:
    """RFC 7946: a FeatureCollection, one Point (longitude, latitude; WGS 84) per row, the other columns
    as its properties; a row without coordinates has a null geometry."""

    def __init__(self, sink: _Sink, table: Table) -> None:
        self.sink = sink
        lon, lat = coordinates(table) or ("", "")
        names = [c.name for c in table.columns]
        self.x, self.y = names.index(lon), names.index(lat)
        self.keys = [
            (i, json.dumps(n, ensure_ascii=False) + ": ") for i, n in enumerate(names) if n not in (lon, lat)
        ]
        self.first = True
        sink.write(b'{"type": "FeatureCollection", "features": [')

    def row(self, values: tuple[str | None, ...], typed: list[Any]) -> None:
        x, y = typed[self.x], typed[self.y]
        geometry = "null" if x is None or y is None else f'{{"type": "Point", "coordinates": [{x}, {y}]}}'
        props = ", ".join(k + _json_value(typed[i]) for i, k in self.keys)
        feature = f'{{"type": "Feature", "geometry": {geometry}, "properties": {{{props}}}}}'
        self.sink.write((b"\n" if self.first else b",\n") + feature.encode())
        self.first = False

    def finish(self) -> None:
        self.sink.write(b"\n]}\n")


class _XlsxWriter:
    """One worksheet (openpyxl's write-only mode streams rows to disk): a header row of column names, then
    numbers as numbers, dates as dates, text as text. Text that looks like a formula is stored as text
    with Excel's quote prefix, never as a formula."""

    def __init__(self, path: Path, table: Table) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        self.path = path
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(table.name[:31])
        self.cell = WriteOnlyCell
        header = []
        for c in table.columns:
            cell = WriteOnlyCell(self.sheet, value=c.name)
            cell.font = Font(bold=True)
            header.append(cell)
        self.sheet.append(header)

    def row(self, values: tuple[str | None, ...], typed: list[Any]) -> None:
        cells: list[Any] = []
        for value in typed:
            if isinstance(value, str):
                value = value.translate(XLSX_ILLEGAL)
                if value[:1] in FORMULA_PREFIXES:
                    cell = self.cell(self.sheet, value=value)
                    cell.data_type = "s"  # openpyxl would store "=..." as a formula
                    cell.quotePrefix = True
                    value = cell
            elif isinstance(value, datetime) and value.tzinfo is not None:
                value = value.replace(tzinfo=None)  # already UTC; Excel has no time zones
            cells.append(value)
        self.sheet.append(cells)

    def finish(self) -> Download:
        self.book.save(self.path)
        return _xlsx_download(self.path)


def _xlsx_download(path: Path) -> Download:
    """The XLSX file written (openpyxl saves it whole at the end): its checksum and size."""
    data = path.read_bytes()
    return Download(XLSX, path, hashlib.sha256(data).hexdigest(), len(data))


# From this many rows on, the XLSX (openpyxl writes about 7,000 rows a second here) is written by a process
# of its own while this one writes the other files: the publish of a large table waits for the slower of the
# two, not for both.
XLSX_APART_ROWS = 20_000


def write_files(
    conn: psycopg.Connection, table: Table, folder: Path, warehouse_url: str | None = None
) -> dict[str, Download]:
    """Write every download file of the table (:func:`file_formats`) into ``folder``, reading its rows
    once; each by its format's key. Rows are in the order of all their columns, so the CSV's bytes
    depend on the content alone (the CSV's sha256 is the content hash of a publication).

    The CSV is UTF-8 with a byte-order mark (Excel then shows Vietnamese diacritics) and a header of
    column names; NULL is an empty cell. Text that a spreadsheet would run as a formula starts with an
    apostrophe in the CSV and is quote-prefixed text in the XLSX; the JSON files hold the values as they are.

    ``conn`` is in a REPEATABLE READ transaction (``publishers.ckan._snapshot``). With ``warehouse_url``, a
    table of :data:`XLSX_APART_ROWS` rows or more has its XLSX written by a child process reading the
    same snapshot of the warehouse (``python -m publishers.xlsx_apart``), at the same time as the rest.
    """
    conn.execute(STABLE_OUTPUT)
    formats = file_formats(table)
    sinks = {f.key: _Sink(folder / f"{table.name}.{f.key}") for f in formats if f is not XLSX}
    writers: dict[str, Any] = {
        "csv": _CsvWriter(sinks["csv"], table),
        "json": _JsonWriter(sinks["json"], table),
    }
    if GEOJSON in formats:
        writers["geojson"] = _GeoJsonWriter(sinks["geojson"], table)
    apart = None
    if XLSX in formats:
        path = folder / f"{table.name}.xlsx"
        if warehouse_url and table.rows >= XLSX_APART_ROWS:
            apart = _XlsxApart(conn, warehouse_url, table, path)
        else:
            writers["xlsx"] = _XlsxWriter(path, table)
    try:
        for values, typed in typed_rows(conn, table):
            for writer in writers.values():
                writer.row(values, typed)
    except BaseException:
        if apart is not None:
            apart.cancel()
        raise
    done: dict[str, Download] = {}
    for fmt in formats:
        if fmt is XLSX:
            done[fmt.key] = apart.finish() if apart is not None else writers[fmt.key].finish()
            continue
        writer = writers[fmt.key]
        if hasattr(writer, "finish"):
            writer.finish()
        done[fmt.key] = sinks[fmt.key].close(fmt)
    return done


def typed_rows(conn: psycopg.Connection, table: Table) -> Iterator[tuple[tuple[str | None, ...], list[Any]]]:
    """The table's rows in :func:`rows_query`'s order: each as PostgreSQL's text and as Python values."""
    converters = [_typed(c) for c in table.columns]
    with conn.cursor(name="kho_publish_files") as cur:
        cur.itersize = 2_000
        cur.execute(rows_query(table))
        for values in cur:
            yield values, [None if v is None else conv(v) for conv, v in zip(converters, values, strict=True)]


def write_xlsx(conn: psycopg.Connection, table: Table, path: Path) -> Download:
    """The XLSX alone (what the child process of :func:`write_files` does)."""
    conn.execute(STABLE_OUTPUT)
    writer = _XlsxWriter(path, table)
    for values, typed in typed_rows(conn, table):
        writer.row(values, typed)
    return writer.finish()


class _XlsxApart:
    """The XLSX written by a child process from the snapshot ``conn``'s transaction exports: the same rows."""

    def __init__(self, conn: psycopg.Connection, warehouse_url: str, table: Table, path: Path) -> None:
        import os
        import subprocess
        import sys

        (snapshot,) = conn.execute("select pg_export_snapshot()").fetchone()
        self.path = path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "publishers.xlsx_apart", snapshot, table.schema, table.name, str(path)],
            env={**os.environ, "KHO_XLSX_WAREHOUSE_URL": warehouse_url},  # never on a command line
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self) -> Download:
        _, err = self.process.communicate()
        if self.process.returncode != 0:
            raise RuntimeError(f"the XLSX file {self.path.name} was not written: {err.strip()[-2000:]}")
        return _xlsx_download(self.path)

    def cancel(self) -> None:
        self.process.kill()
        self.process.communicate()


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
