"""Land a clean CSV delivery set-based, at close to the speed of PostgreSQL's own ``COPY``.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import io
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from itertools import islice
from pathlib import Path
from typing import IO

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql

from kho.catalog import Column, Dataset
from kho.errors import DeliveryError
from kho.landing import decode
from kho.landing.areas import LEVELS, check_name, dataset_scope, known_names, usual_names
from kho.landing.readers.csv_reader import UTF16_BOMS, LineGuard, csv_rows, decoded_lines, sniff_delimiter
from kho.landing.readers.tabular import (
    FOOTNOTE,
    HEADER_SEARCH_ROWS,
    Header,
    Sheet,
    find_header,
    is_numbering,
    layout,
    texts,
)
from kho.landing.values import FALSE_WORDS, MISSING, TRUE_WORDS

BATCH_BYTES = 2 << 20  # Arrow reads the file in blocks of about this size
HEAD_BYTES = 16 << 10  # read at a time while the header is looked for
FIRST_READ_BYTES = 64 << 10  # Arrow's first read of the delivery: see _Ramp
QUEUED_BATCHES = 3  # converted batches waiting for the COPY thread (Arrow reads further ahead itself)
FIELD_LIMIT = 128 * 1024  # csv.field_size_limit(): the row-by-row reader refuses longer fields
SEEN_WORDS_LIMIT = 1_000_000  # distinct words remembered per file for the encoding check
LEARN_SLICE = 32  # names learnt ahead between two chances for the hashing thread to take Python's lock
AHEAD_BATCHES = 6  # batches converted while the file is hashed, held for the COPY (their COPY text: ~4 MB)
UTF8 = ("utf-8", "utf-8-sig")  # the names kho.landing.decode gives UTF-8 (with a BOM: -sig)

# Anything str.split() splits at other than a single space, edge spaces, double spaces, the invisible
# characters clean_text removes, control characters and quotes: a value with one needs the row-by-row path.
_WHITESPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x1f\x85\xa0\x{1680}\x{2000}-\x{200d}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
    r"\x{2060}\x{feff}\x{00ad}\x00-\x08\x0e-\x1b\x7f"
)
SEPARATOR = "|"
ROW_NEEDS_CLEANING = rf'^ | $| \||\| |  |[{_WHITESPACE}"]'
INTEGER = r"^[+-]?[0-9]{1,18}$"
DECIMAL = r"^[+-]?[0-9]+(?:\.[0-9]+)?$"  # when the catalog declares a decimal point
WHOLE = r"^[+-]?[0-9]+$"
# A decimal that is not ambiguous as kho.landing.values sees it: 1.234 (1-3 digits not starting with 0, then exactly
# three) could be a decimal or thousands, and only the row-by-row reader weighs the file's evidence.
UNAMBIGUOUS = r"^[+-]?(?:[0-9]+|0[0-9]*\.[0-9]+|[0-9]{4,}\.[0-9]+|[1-9][0-9]{0,2}\.(?:[0-9]{1,2}|[0-9]{4,}))$"
ISO_TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[ T](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)
UNUSUAL = f"[^\\x00-\\x7f{decode.VIETNAMESE_CHARACTERS}]"
TEXT_FORMAT = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
MISSING_VALUES = pa.array(sorted(MISSING))
MISSING_BYTES = max(len(m.encode()) for m in MISSING)
TRUE_VALUES, FALSE_VALUES = pa.array(sorted(TRUE_WORDS)), pa.array(sorted(FALSE_WORDS))


class Fallback(Exception):
    """This delivery needs the row-by-row path; the message says why (for logs and benchmarks)."""


class _NotNfc(Exception):
    """A UTF-8 delivery read as it came has text that is not in NFC: it is read again, normalized."""


# What makes the caller fall back: ours, a refusal (the row-by-row path words it), a row Arrow cannot
# parse, a value PostgreSQL rejects during the COPY.
FALLBACK_ERRORS = (Fallback, DeliveryError, pa.ArrowInvalid, psycopg.errors.DataError)


def eligible(ds: Dataset) -> bool:
    """Only CSV deliveries without the layout features that need row-by-row judgement."""
    source = ds.source
    return source.format == "csv" and not source.section_column and not source.sheet_column


@dataclass
class Plan:
    """What the first lines of the file say: read as the row-by-row reader reads them."""

    encoding: str
    delimiter: str
    header: Header
    first_line: int  # the line of the first data row
    footer: re.Pattern[str] | None  # source.footer_pattern
    first_values: set[str] = field(default_factory=set)  # first values of rows, checked already
    name_keys: dict[str, _Names] = field(default_factory=dict)  # per matched column, for the whole file
    as_delivered: bool = False  # UTF-8 passed to Arrow as it came, its text not yet known to be NFC
    backslash: bool = False  # a backslash in the bytes read so far (the text COPY's escape character)
    started: _Started | None = None  # the first batches, converted while the file was hashed


@dataclass
class _Started:
    """The delivery opened for Arrow, and its batches converted so far (before the COPY could start, while
    the file was hashed: every raw row's provenance holds the file's sha256)."""

    stream: IO[bytes]
    batches: Generator[pa.RecordBatch, None, None]
    words: _Words
    converted: list[tuple[bytes | None, list, int]] = field(default_factory=list)  # COPY text, held, rows
    delivered: int = 0  # rows read so far
    error: Exception | None = None  # what converting ahead raised: raised again where the COPY reaches it

    def close(self) -> None:
        """Stop Arrow's reader (and the reading it does ahead on its own thread), then close the file."""
        self.error = None  # its traceback holds the frames that hold this object
        self.converted = []
        try:
            self.batches.close()
        finally:
            self.stream.close()


def plan(ds: Dataset, path: Path, name: str) -> Plan:
    """The header and first data line, found by the row-by-row reader's own functions."""
    source = ds.source
    with path.open("rb") as stream:
        if stream.read(2) in UTF16_BOMS:
            raise Fallback("UTF-16 text")
        stream.seek(0)
        encoding = decode.encoding_of(stream, source.encoding, ds.id, name)
        stream.seek(0)
        lines = decoded_lines(_Head(stream), ds.id, name, encoding)  # detected once, above
        head = list(islice(lines, (source.skip_rows or 0) + HEADER_SEARCH_ROWS + source.header_rows))
    lay = layout(ds)
    delimiter = source.delimiter or sniff_delimiter(head, lay)
    rows = list(csv_rows(head, delimiter, ds.id, name))
    if source.skip_rows is not None:
        searched = rows[: source.skip_rows + source.header_rows]
    else:
        searched = rows[: HEADER_SEARCH_ROWS + source.header_rows - 1]
    sheet = Sheet(name, iter(()), label=lambda pos: f"column {pos + 1}", width_is_fixed=True, text_only=True)
    header, first = find_header(searched, lay, sheet)
    if not header.plain:
        raise Fallback("a header with unnamed or repeated columns")
    if first >= len(rows) or any(row.line != i + 1 for i, row in enumerate(rows[: first + 1])):
        raise Fallback("a header spanning lines, or no data row in the first lines")
    if is_numbering(texts(rows[first])):
        raise Fallback("a row numbering the columns")
    return Plan(encoding, delimiter, header, rows[first].line, lay.footer, as_delivered=encoding in UTF8)


def plan_ahead(ds: Dataset, path: Path, name: str) -> Plan | Exception:
    """:func:`plan` (or what it raises, which :func:`land` raises in turn, where :func:`plan` would have), with
    the reference the file's names are matched against read too: what the landing reads before its first
    rows, read early."""
    try:
        found = plan(ds, path, name)
        scope = dataset_scope(ds)
        for column in found.header.columns.values():
            if column.match:
                found.name_keys[column.name] = _Names(column.match, scope)
                if column.match in LEVELS:
                    known_names(column.match)  # the reference the names are looked up in
    except Exception as exc:  # noqa: BLE001 (raised again by land(), at the same point of the landing)
        return exc
    return found


def work_ahead(
    found: Plan | Exception | None, ds: Dataset, path: Path, name: str, done: Callable[[], bool]
) -> None:
    """Until ``done()`` (the file is hashed meanwhile), read and convert the file's first batches
    (:func:`convert_ahead`), then learn the reference's names (:func:`learn_ahead`)."""
    if isinstance(found, Plan):
        convert_ahead(found, ds, path, name, done)
        if found.started is None or found.started.error is None:  # else the landing falls back anyway
            learn_ahead(found, done)


def convert_ahead(found: Plan, ds: Dataset, path: Path, name: str, done: Callable[[], bool]) -> None:
    """Until ``done()``, read and convert up to ``AHEAD_BATCHES`` batches, as the COPY reads them (in
    :func:`_copy`, which takes them first): PostgreSQL then gets rows as soon as the COPY starts rather than
    waiting for the first batches, which are the slowest (names first seen, Arrow's first reads). What
    converting raises waits for :func:`_copy` too, which raises it after the batches before it."""
    try:
        started = found.started = _start(ds, path, name, found)
    except OSError:
        return  # raised again where the COPY opens the file, if the landing gets there
    positions, names = _targets(found)
    converting = _converted(started, ds, found, positions, names)
    try:
        while not done() and len(started.converted) < AHEAD_BATCHES:
            converted = next(converting, None)
            if converted is None:
                return
            started.converted.append(converted)
    except Exception as exc:  # noqa: BLE001 (raised again by _copy, at the same point of the landing)
        started.error = exc


def put_aside(found: Plan | Exception | None) -> None:
    """Close what :func:`convert_ahead` opened (Arrow's reader, the file) if the COPY did not take it: the
    file had landed already, or the landing failed before its COPY."""
    if isinstance(found, Plan) and found.started is not None:
        found.started.close()
        found.started = None


def learn_ahead(found: Plan | Exception | None, done: Callable[[], bool]) -> None:
    """Until ``done()`` (the file is hashed meanwhile), learn the reference's names as it writes them
    (:func:`kho.landing.areas.usual_names`) for each column matched against communes, provinces or areas (an
    address is read, not looked up), a few at a time, keeping those that land as they are: the names a
    delivery mostly carries, matched while the landing waits anyway, not while PostgreSQL waits for the first
    rows. Python's lock is offered after each few names, so that the hashing thread, which needs it between
    two blocks, goes on.
    """
    if not isinstance(found, Plan):
        return
    for known in found.name_keys.values():
        if done():  # a small file: hashed already
            return
        known.learn_usual(done)


class _Head:
    """A stream read in small pieces, so that finding the header decodes and checks the first lines only
    (the reader's blocks are of a megabyte; the set-based landing checks every line itself)."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(HEAD_BYTES if size < 0 else min(size, HEAD_BYTES))

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.stream.seek(offset, whence)


class _Source(io.RawIOBase):
    """The delivery as UTF-8 for Arrow, lines bounded as the reader's. A UTF-8 file goes as it came
    (``as_delivered``: Arrow checks that it is UTF-8, :func:`_check_text` that its text is NFC); any other
    encoding is decoded, put in NFC and encoded as UTF-8 again."""

    def __init__(self, stream: IO[bytes], found: Plan, ds: str, name: str):
        guard = LineGuard(stream, ds, name)
        if found.as_delivered:
            self.blocks: Iterator[bytes] = iter(lambda: guard.read(BATCH_BYTES), b"")
        else:
            self.blocks = decode.utf8_blocks(guard.read, found.encoding, ds, name)
        self.found = found
        self.pending = memoryview(b"")
        self.carriage_return = False  # the block before ended with one

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            data = next(self.blocks, None)
            if data is None:
                if self.carriage_return:
                    raise Fallback("a carriage return that does not end a line")
                return 0
            self._scan(data)
            self.pending = memoryview(data)
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size

    def _scan(self, data: bytes) -> None:
        """Carriage returns only before a line feed; a backslash seen? (Byte searches: memchr speed.)"""
        returns = data.count(b"\r") if b"\r" in data else 0  # a search first: most files have none
        if returns or self.carriage_return:
            ends = data.endswith(b"\r")  # its line feed starts the next block
            if (self.carriage_return and not data.startswith(b"\n")) or returns - ends != data.count(b"\r\n"):
                raise Fallback("a carriage return that does not end a line")
            self.carriage_return = ends
        if not self.found.backslash and b"\\" in data:
            self.found.backslash = True


class _Ramp:
    """Arrow's reads of the delivery from its first data row on (the lines before it, which :func:`plan`
    read, are skipped here: Arrow skips rows of its first block only), the first reads short (64 kB, then
    twice as much each time up to a block): Arrow parses and the checks convert the first rows before
    PostgreSQL gets them, 64 kB of them rather than a whole block, and the file's names are learnt
    (:class:`_Names`) a few at a time while PostgreSQL copies earlier rows. Each read ends at a line end
    (lines are bounded by :class:`LineGuard`): Arrow refuses a row that straddles two of its blocks."""

    def __init__(self, stream: io.BufferedReader, lines_before: int):
        self.stream, self.size, self.lines_before = stream, FIRST_READ_BYTES, lines_before

    def read(self, size: int = -1) -> bytes:
        while self.lines_before and self.stream.readline():
            self.lines_before -= 1
        if 0 < self.size < size:
            size, self.size = self.size, self.size * 2
        data = self.stream.read(size)
        return data + self.stream.readline() if data and not data.endswith(b"\n") else data

    def __getattr__(self, name: str):  # closed, close, readable... as the stream's
        return getattr(self.stream, name)


class _CopyThread(threading.Thread):
    """Writes batches to the COPY while the main thread reads the next ones."""

    def __init__(self, copy: psycopg.Copy):
        super().__init__(name="kho-copy", daemon=True)
        self.copy = copy
        self.batches: queue.Queue[bytes | None] = queue.Queue(QUEUED_BATCHES)
        self.error: BaseException | None = None

    def run(self) -> None:
        while (data := self.batches.get()) is not None:
            if self.error is None:
                try:
                    self.copy.write(data)
                except BaseException as exc:  # kept for the main thread; the queue is still drained
                    self.error = exc

    def put(self, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.batches.put(data)

    def close(self) -> None:
        self.batches.put(None)
        self.join()


class _Words:
    """The encoding check of the row-by-row reader, on the distinct words of each batch.

    A word that does not read as Vietnamese is harmless (a foreign name) unless its bytes read cleanly in
    another encoding: then its line may have come from another system, and the row-by-row path decides.
    """

    def __init__(self, encoding: str):
        self.utf8 = encoding in UTF8
        self.seen: set[str] = set()

    def check(self, column: pa.Array) -> None:
        values = pc.unique(column)  # distinct values first: far fewer to split than rows
        values = values.filter(pc.invert(pc.string_is_ascii(values)))
        if not len(values):
            return
        words = pc.unique(pc.list_flatten(pc.utf8_split_whitespace(values)))
        words = words.filter(pc.invert(pc.string_is_ascii(words)))
        for word in words.to_pylist():
            if word in self.seen:
                continue
            if len(self.seen) < SEEN_WORDS_LIMIT:
                self.seen.add(word)
            if decode.reads_badly(word) and (not self.utf8 or decode.reads_elsewhere(word.encode("utf-8"))):
                raise Fallback(f"the word {word!r} may be in another encoding")


def land(
    conn: psycopg.Connection,
    ds: Dataset,
    path: Path,
    name: str,
    load: tuple[str, str, datetime],  # load id, file sha256, started
    held: IO[str],
    progress: Callable[[int], None] | None = None,
    ahead: Plan | Exception | None = None,
) -> tuple[int, int, dict[str, int]]:
    """COPY the delivery into the raw table; (rows delivered, rows quarantined, reasons) or Fallback.

    Quarantined rows are written to ``held`` as the row-by-row path writes them. ``ahead``: what
    :func:`plan_ahead` found for this file, when it was asked (while the file was hashed).
    """
    if isinstance(ahead, Exception):
        raise ahead
    found = ahead or plan(ds, path, name)
    positions, names = _targets(found)
    targets = [found.header.columns[p].name for p in positions] + [f"{n}_key" for n in names]
    load_id, sha, started = load
    table = sql.Identifier(ds.raw_schema, ds.raw_table)
    # The provenance is the same for every row of the delivery: column defaults for this transaction
    # (dropped again below, rolled back with a fallback) rather than four more values a row to parse.
    provenance = {"_load_id": load_id, "_source_file": name, "_file_sha256": sha, "_loaded_at": started}
    conn.execute(
        sql.SQL("alter table {} {}").format(
            table,
            sql.SQL(", ").join(
                sql.SQL("alter column {} set default {}").format(sql.Identifier(c), sql.Literal(v))
                for c, v in provenance.items()
            ),
        )
    )
    # Times without a zone are Vietnam time, as kho.landing.values reads them (a fixed +07:00, as there).
    conn.execute("set local time zone interval '+07:00' hour to minute")
    # Text format, tab-separated: no value holds a tab, a line break or a quote (those fall back), and
    # an empty field is a null (an empty value is a missing one already).
    copy_sql = sql.SQL("copy {} ({}) from stdin (format text, null '')").format(
        table, sql.SQL(", ").join(map(sql.Identifier, ["_source_row", *targets]))
    )
    try:
        with conn.transaction():  # a savepoint, for a UTF-8 file whose text is not all NFC
            counts = _copy(conn, copy_sql, ds, path, name, found, positions, names, held, progress)
    except _NotNfc:
        held.seek(0)
        held.truncate()
        found.as_delivered = found.backslash = False
        counts = _copy(conn, copy_sql, ds, path, name, found, positions, names, held, progress)
    conn.execute(
        sql.SQL("alter table {} {}").format(
            table,
            sql.SQL(", ").join(
                sql.SQL("alter column {} drop default").format(sql.Identifier(c)) for c in provenance
            ),
        )
    )
    return counts


def _targets(found: Plan) -> tuple[list[int], dict[str, str]]:
    """(positions of the catalog's columns in the file, matched column -> what it names)."""
    header = found.header
    positions = sorted(header.columns)
    columns = [header.columns[p] for p in positions]
    return positions, {c.name: c.match for c in columns if c.match}


def _start(ds: Dataset, path: Path, name: str, found: Plan) -> _Started:
    """The delivery opened for Arrow."""
    stream = path.open("rb")
    return _Started(stream, _batches(stream, ds, name, found), _Words(found.encoding))


def _converted(
    started: _Started, ds: Dataset, found: Plan, positions: list[int], names: dict[str, str]
) -> Iterator[tuple[bytes | None, list, int]]:
    """Each batch as (rows to land as COPY text, or None; quarantined rows; rows delivered)."""
    for batch in started.batches:
        first_row = found.first_line + started.delivered
        landed, held_rows = _convert(batch, ds, found, positions, names, started.words, first_row)
        started.delivered += batch.num_rows
        text = None
        if landed.num_rows:
            out = io.BytesIO()
            pacsv.write_csv(landed, out, TEXT_FORMAT)
            text = out.getvalue()
        yield text, held_rows, batch.num_rows


def _copy(
    conn: psycopg.Connection,
    copy_sql: sql.Composed,
    ds: Dataset,
    path: Path,
    name: str,
    found: Plan,
    positions: list[int],  # of the catalog's columns in the file
    names: dict[str, str],  # matched column -> what it names
    held: IO[str],
    progress: Callable[[int], None] | None,
) -> tuple[int, int, dict[str, int]]:
    """Read, check and convert the delivery batch by batch (those converted ahead first) while a thread
    writes the COPY."""
    delivered = quarantined = 0
    reasons: dict[str, int] = {}
    started, found.started = found.started or _start(ds, path, name, found), None

    def batches() -> Iterator[tuple[bytes | None, list, int]]:
        yield from started.converted
        started.converted = []
        if started.error is not None:
            error, started.error = started.error, None  # no cycle through the traceback's frames
            raise error
        yield from _converted(started, ds, found, positions, names)

    with closing(started), conn.cursor() as cur, cur.copy(copy_sql) as copy:
        writer = _CopyThread(copy)
        writer.start()
        try:
            for text, held_rows, rows in batches():
                for source_row, column, reason, raw in held_rows:
                    reasons[reason] = reasons.get(reason, 0) + 1
                    held.write(json.dumps([source_row, column, reason, raw], ensure_ascii=False) + "\n")
                delivered += rows
                quarantined += len(held_rows)
                if text is not None:
                    writer.put(text)
                if progress:
                    progress(delivered)
        finally:
            writer.close()
        if writer.error is not None:
            raise writer.error
    return delivered, quarantined, reasons


def _batches(stream: IO[bytes], ds: Dataset, name: str, found: Plan) -> Generator[pa.RecordBatch, None, None]:
    width = len(found.header.names)
    reader = pacsv.open_csv(
        _Ramp(io.BufferedReader(_Source(stream, found, ds.id, name), BATCH_BYTES), found.first_line - 1),
        read_options=pacsv.ReadOptions(
            use_threads=False,
            block_size=BATCH_BYTES,
            column_names=[f"c{i}" for i in range(width)],
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=found.delimiter,
            quote_char='"',
            double_quote=True,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=False,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={f"c{i}": pa.string() for i in range(width)},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=False,
            check_utf8=found.as_delivered,  # else decoded by _Source, so valid UTF-8
        ),
    )
    try:
        yield from reader
    finally:
        reader.close()  # its reading ahead stops now, not when the reader is collected


def _convert(
    batch: pa.RecordBatch,
    ds: Dataset,
    found: Plan,
    positions: list[int],
    names: dict[str, str],
    words: _Words,
    first_row: int,
) -> tuple[pa.RecordBatch, list[tuple[int, str, str, dict[str, str]]]]:
    """(rows to land, as the COPY wants them; quarantined rows) of one batch, or Fallback."""
    cells, header = batch.columns, found.header
    shortest = _check_rows(cells, header, found)
    # Typed columns hold ASCII only, or fall back on their pattern.
    _check_text(
        [c for p, c in enumerate(cells) if p not in header.columns or header.columns[p].type == "text"],
        words,
        found.as_delivered,
    )
    values: dict[str, pa.Array] = {}
    reason = column_of_reason = pa.nulls(batch.num_rows, pa.string())
    keys: dict[str, pa.Array] = {}
    by_name = {header.columns[p].name: p for p in positions}
    for column in ds.columns:
        p = by_name.get(column.name)
        if p is None:
            continue
        value = _without_missing(cells[p], shortest[p])
        values[column.name] = _typed(value, column, ds, found.backslash)
        failing: list[tuple[pa.Array, pa.Array | str]] = []
        if column.required:
            failing.append((pc.is_null(value), f"required column '{column.name}' is empty"))
        if column.match:
            if column.name not in found.name_keys:
                found.name_keys[column.name] = _Names(names[column.name], dataset_scope(ds))
            keys[column.name], unknown = _match(value, found.name_keys[column.name])
            if unknown is not None:
                failing.append((pc.is_valid(unknown), unknown))
        for mask, text in failing:
            if not pc.any(mask).as_py():
                continue
            mask = pc.and_(mask, pc.is_null(reason))
            reason = pc.if_else(mask, text, reason)
            column_of_reason = pc.if_else(mask, column.name, column_of_reason)
    bad = pc.is_valid(reason)
    held: list[tuple[int, str, str, dict[str, str]]] = []
    if pc.any(bad).as_py():
        rows = pc.indices_nonzero(bad).to_pylist()
        shown = [pc.take(c, rows).to_pylist() for c in cells]
        for i, row in enumerate(rows):
            raw = {header.names[p]: shown[p][i] or "" for p in range(len(cells))}
            held.append((first_row + row, column_of_reason[row].as_py(), reason[row].as_py(), raw))
    good = pc.invert(bad)
    arrays = [pa.array(np.arange(first_row, first_row + batch.num_rows, dtype=np.int32))]
    arrays += [values[header.columns[p].name] for p in positions]
    arrays += [keys[n] for n in names]
    landed = pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
    return (landed.filter(good) if held else landed), held


def _check_text(cells: list[pa.Array], words: _Words, as_delivered: bool = False) -> None:
    """Text values to clean (the typed columns' patterns allow no spaces); words in another encoding?
    Text ``as_delivered`` and not in NFC raises _NotNfc."""
    if not cells:
        return
    # One regular expression over each row's values joined by a separator (a value next to it must not
    # start or end with a space either); a separator inside a value at worst sends the file row by row.
    joined = pc.binary_join_element_wise(*cells, SEPARATOR, null_handling="replace", null_replacement="")
    if words.utf8 and not pc.any(pc.match_substring_regex(joined, f"{ROW_NEEDS_CLEANING}|{UNUSUAL}")).as_py():
        return  # one pass for the usual case
    if pc.any(pc.match_substring_regex(joined, ROW_NEEDS_CLEANING)).as_py():
        raise Fallback("a value to clean (spaces, line breaks, quotes, control characters)")
    # Text written in Vietnamese letters is read word by word only if some row has another character:
    # mojibake always has some (TCVN3 read as Latin-1: "Hµ Néi"), and so do foreign names.
    unusual = pc.match_substring_regex(joined, UNUSUAL)
    if pc.any(unusual).as_py():
        # ASCII and Vietnamese letters are NFC whatever follows them: only rows with another character
        # can be otherwise (decomposed accents: "tổ hợp" Unicode).
        if as_delivered:
            rows = joined.filter(unusual)
            if not pc.all(pc.equal(rows, pc.utf8_normalize(rows, "NFC"))).as_py():
                raise _NotNfc
        for cell in cells:
            words.check(cell.filter(unusual))
    elif not words.utf8:
        for cell in cells:
            words.check(cell)


def _check_rows(cells: list[pa.Array], header: Header, found: Plan) -> list[int | None]:
    """Rows the row-by-row reader could judge otherwise: headings, footnotes, repeated headers.
    Returns each cell's shortest value in bytes (None: no value), which :func:`_without_missing` reads."""
    sizes = [pc.binary_length(cell) for cell in cells]  # bytes: at least the characters csv counts
    spans = [pc.min_max(size).as_py() for size in sizes]
    if any((span["max"] or 0) > FIELD_LIMIT for span in spans):
        raise Fallback("a very long value")
    # A cell has a value unless it is null or empty (empty cells are nulls already: null_values=[""]).
    full = [cell.null_count == 0 and (span["min"] or 0) > 0 for cell, span in zip(cells, spans, strict=True)]

    def has_value(p: int) -> pa.Array:
        return pc.fill_null(pc.greater(sizes[p], 0), False)

    sparse = 2 if len(cells) >= 3 else 0
    if sum(full) <= sparse:  # else every row has more values than a heading: nothing to count
        counts = [has_value(p).cast(pa.int8()) for p, whole in enumerate(full) if not whole]
        filled = reduce(pc.add, counts) if counts else None
        if filled is None or pc.any(pc.less_equal(filled, sparse - sum(full))).as_py():
            raise Fallback("a blank or sparse row (a heading?)")
    if full[0]:
        first = cells[0]  # the usual case: every row's first cell has a value
    else:
        blank = pa.scalar(None, pa.string())
        first = pc.coalesce(
            *[c if full[p] else pc.if_else(has_value(p), c, blank) for p, c in enumerate(cells)]
        )
    # The reader's own patterns, on each distinct first value of the file (once).
    firsts = pc.unique(first)
    for text in set(firsts.to_pylist()) - found.first_values:
        if FOOTNOTE.match(text) or (found.footer and found.footer.match(text)):
            raise Fallback("a row that may be a footnote or the end of the table")
        if len(found.first_values) < SEEN_WORDS_LIMIT:
            found.first_values.add(text)
    leading = firsts if full[0] else pc.unique(cells[0])  # the first column's distinct values
    if pc.any(pc.equal(pc.utf8_lower(leading), header.names[0].lower())).as_py():
        raise Fallback("a repeated header")
    return [span["min"] for span in spans]


def _without_missing(cell: pa.Array, shortest: int | None) -> pa.Array:
    """Empty cells, dashes and dots ("no value" in statistical tables) as nulls. ``shortest``: the
    cell's shortest value in bytes (None: no value)."""
    if shortest is None or shortest > MISSING_BYTES:
        return cell  # the usual case: no value is short enough to be a mark
    missing = pc.is_in(cell, value_set=MISSING_VALUES)
    return pc.if_else(missing, pa.scalar(None, pa.string()), cell) if pc.any(missing).as_py() else cell


def _typed(value: pa.Array, column: Column, ds: Dataset, backslash: bool = True) -> pa.Array:
    """The column's values as PostgreSQL reads them unchanged, or Fallback if one needs converting.
    ``backslash``: the file may have one (else no text value needs escaping)."""
    kind = column.type
    if kind == "text":
        if backslash and pc.any(pc.match_substring(value, "\\")).as_py():  # the text COPY's escape character
            return pc.replace_substring(value, "\\", "\\\\")
        return value
    if column.formats and kind in ("date", "timestamp"):
        if pc.any(pc.is_valid(value)).as_py():
            raise Fallback(f"column {column.name!r}: declared date formats")
        return value
    if kind == "boolean":
        lower = pc.utf8_lower(value)
        yes, no = pc.is_in(lower, value_set=TRUE_VALUES), pc.is_in(lower, value_set=FALSE_VALUES)
        if pc.any(pc.and_(pc.is_valid(value), pc.invert(pc.or_(yes, no)))).as_py():
            raise Fallback(f"column {column.name!r}: a value to convert")
        return pc.if_else(yes, "t", pc.if_else(no, "f", pa.scalar(None, pa.string())))
    if kind == "date":
        pc.cast(value, pa.date32())  # strict YYYY-MM-DD and a real day; ArrowInvalid otherwise
        return value
    declared = ds.source.decimal_separator
    pattern = {
        "integer": INTEGER,
        "numeric": {",": WHOLE, ".": DECIMAL}.get(declared, UNAMBIGUOUS),
        "timestamp": ISO_TIMESTAMP,
    }[kind]
    if not pc.all(pc.match_substring_regex(value, pattern), min_count=0).as_py():
        raise Fallback(f"column {column.name!r}: a value to convert (or a number like 1.234)")
    return value


class _Names:
    """The name keys (and unknown-name or out-of-scope reasons) of one matched column, computed once per
    distinct name of the file (and for the reference's names learnt ahead, :func:`learn_ahead`): Arrow
    arrays looked up set-based (``index_in``), grown when a batch brings names not seen yet."""

    def __init__(self, match: str, scope: tuple[str, ...] | None):
        self.match, self.scope = match, scope
        self.names: list[str] = []
        self.keys: list[str] = []
        self.reasons: list[str | None] = []
        self._arrays()

    def _arrays(self) -> None:
        self.name_array = pa.array(self.names, pa.string())
        self.key_array = pa.array(self.keys, pa.string())
        self.reason_array = pa.array(self.reasons, pa.string())
        self.any_unknown = any(r is not None for r in self.reasons)

    def learn(self, names: list[str]) -> None:
        """Add names, each not learnt yet (the caller looks them up first)."""
        for name in names:
            key, reason = check_name(self.match, name, self.scope)
            if not key:
                raise Fallback("a name with an empty key")  # the text COPY would read it as a null
            self._add(name, key, reason)
        self._arrays()

    def learn_usual(self, done: Callable[[], bool]) -> None:
        """Add the reference's names as it writes them (:func:`kho.landing.areas.usual_names`), those that
        land as they are, ``LEARN_SLICE`` at a time until ``done()``, offering Python's lock between slices.
        They are looked up past ``check_name``'s cache, which keeps its room for the names deliveries bring
        (unknown ones' suggestions above all)."""
        usual = usual_names(self.match, self.scope)
        try:
            for start in range(0, len(usual), LEARN_SLICE):
                if done():
                    return
                for name in usual[start : start + LEARN_SLICE]:
                    key, reason = check_name.__wrapped__(self.match, name, self.scope)
                    if key and reason is None:
                        self._add(name, key, reason)
                time.sleep(0)  # lets a thread waiting for Python's lock take it
        finally:
            self._arrays()

    def _add(self, name: str, key: str, reason: str | None) -> None:
        self.names.append(name)
        self.keys.append(key)
        self.reasons.append(reason)


def _match(value: pa.Array, known: _Names) -> tuple[pa.Array, pa.Array | None]:
    """(name keys, unknown-name reasons, or None when every name is known) of a column."""
    at = pc.index_in(value, value_set=known.name_array)
    new = pc.and_(pc.is_null(at), pc.is_valid(value))
    if pc.any(new).as_py():
        known.learn(pc.unique(value.filter(new)).to_pylist())
        at = pc.index_in(value, value_set=known.name_array)
    keys = pc.take(known.key_array, at)
    return keys, (pc.take(known.reason_array, at) if known.any_unknown else None)
