"""Delimited text deliveries (CSV, semicolon- or tab-separated), read as a stream.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from typing import BinaryIO

from kho.catalog import CatalogError, Dataset
from kho.errors import DeliveryError, Plain, Problem
from kho.landing.decode import iter_decoded_lines
from kho.landing.readers.record import Record
from kho.landing.readers.tabular import HEADER_SEARCH_ROWS, Layout, Row, Sheet, TableReader, best_header

MAX_LINE_BYTES = 256 * 1024
DELIMITERS = (",", ";", "\t", "|")
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def decoded_lines(stream: BinaryIO, dataset: str, file: str, declared: str = "auto") -> Iterator[str]:
    """NFC text lines, line endings kept (quoted fields may span lines), refusing what is not text.

    Encodings are :mod:`kho.landing.decode`'s business (UTF-8, cp1258, TCVN3, VNI, detected or declared). UTF-16
    with a byte-order mark, as Excel's "Unicode text" saves, is read here. Lines are bounded twice: the
    stream refuses a run of ``MAX_LINE_BYTES`` without a line break before anything buffers it, and each
    decoded line is measured.
    """
    if stream.read(2) in UTF16_BOMS:
        stream.seek(0)
        yield from _utf16_lines(stream, dataset, file)
        return
    stream.seek(0)
    lines = iter_decoded_lines(LineGuard(stream, dataset, file), declared, dataset=dataset, file=file)
    try:
        first = next(lines, None)
    except ValueError as exc:  # an encoding decode does not know
        raise CatalogError(f"{dataset}: field 'source.encoding': {exc}") from None
    if first is None:
        return
    yield first.removeprefix("\ufeff")
    for number, line in enumerate(lines, start=2):
        if len(line) > MAX_LINE_BYTES:
            raise DeliveryError(_long_line(dataset, file, number))
        yield line


class LineGuard:
    """A binary stream that refuses ``MAX_LINE_BYTES`` without a line break, naming the line.

    The line is counted when one is refused, from where the guard started (counting every block as it is
    read held Python's lock for about 1 ms a 2 MB block, on Arrow's reading thread in the set-based
    landing); a stream that cannot seek back is counted as it is read.
    """

    def __init__(self, stream: BinaryIO, dataset: str, file: str):
        self.stream, self.dataset, self.file = stream, dataset, file
        self.run = 0
        seekable = getattr(stream, "seekable", None)
        self.start = stream.tell() if seekable and seekable() else None
        self.line = 1  # counted as read when the stream cannot seek back

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        last = chunk.rfind(b"\n")
        if self.start is None:
            self.line += chunk.count(b"\n")
        self.run = self.run + len(chunk) if last < 0 else len(chunk) - last - 1
        if self.run > MAX_LINE_BYTES:
            raise DeliveryError(_long_line(self.dataset, self.file, self._line()))
        return chunk

    def _line(self) -> int:
        """The line being read: one more than the line breaks read so far."""
        if self.start is None:
            return self.line
        remaining = self.stream.tell() - self.start
        self.stream.seek(self.start)
        line = 1
        while remaining > 0 and (block := self.stream.read(min(remaining, 1 << 20))):
            line += block.count(b"\n")
            remaining -= len(block)
        return line


def _utf16_lines(stream: BinaryIO, dataset: str, file: str) -> Iterator[str]:
    text = io.TextIOWrapper(stream, encoding="utf-16", newline="")
    line = 0
    while True:
        try:
            chunk = text.readline(MAX_LINE_BYTES // 2 + 1)
        except UnicodeDecodeError:
            raise DeliveryError(
                Problem(dataset, file, line + 1, None, "UTF-16 text", Plain("bytes that are not UTF-16"))
            ) from None
        if not chunk:
            return
        line += 1
        if len(chunk) > MAX_LINE_BYTES // 2:
            raise DeliveryError(_long_line(dataset, file, line))
        if "\x00" in chunk:
            raise DeliveryError(
                Problem(dataset, file, line, None, "text without NUL characters", Plain("one"))
            )
        yield unicodedata.normalize("NFC", chunk)


def _long_line(dataset: str, file: str, line: int) -> Problem:
    return Problem(
        dataset,
        file,
        line,
        None,
        f"lines of at most {MAX_LINE_BYTES:,} bytes",
        Plain("a longer line (not a CSV file, or line breaks lost?)"),
    )


def csv_rows(lines: Iterable[str], delimiter: str, dataset: str, file: str) -> Iterator[Row]:
    """Rows with the line each starts on; a field too long (an unclosed quote, mostly) is refused."""
    reader = csv.reader(lines, delimiter=delimiter)
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DeliveryError(
                Problem(
                    dataset,
                    file,
                    line,
                    None,
                    f"fields of at most {csv.field_size_limit():,} characters (is a quote left open?)",
                    Plain(str(exc)),
                )
            ) from None
        yield Row(line, fields)
        line = reader.line_num + 1


def sniff_delimiter(head: list[str], lay: Layout) -> str:
    """The delimiter under which the first lines hold the best header; ``,`` when none names a column."""
    best, best_score = ",", 0
    for delimiter in DELIMITERS:
        try:
            rows = list(csv_rows(head, delimiter, "", ""))
        except DeliveryError:
            continue
        _, score = best_header(rows, lay)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read(dataset: Dataset, path: Path, file_name: str) -> Iterator[Record]:
    """Yield one record per data row of a delimited text file."""
    ds = dataset.id
    if path.stat().st_size == 0:
        raise DeliveryError(
            Problem(ds, file_name, None, None, "a header row and data rows", Plain("an empty file"))
        )
    tables = TableReader(dataset)
    source = dataset.source
    with path.open("rb") as stream:
        lines = decoded_lines(stream, ds, file_name, source.encoding)
        head = list(islice(lines, (source.skip_rows or 0) + HEADER_SEARCH_ROWS + source.header_rows))
        delimiter = source.delimiter or sniff_delimiter(head, tables.layout)
        rows = csv_rows(chain(head, lines), delimiter, ds, file_name)
        sheet = Sheet(
            file_name, rows, label=lambda pos: f"column {pos + 1}", width_is_fixed=True, text_only=True
        )
        yield from tables.read(sheet)
        yield from tables.finish()
    if tables.delivered == 0:
        raise DeliveryError(
            Problem(ds, file_name, None, None, "at least one data row after the header", Plain("none"))
        )
