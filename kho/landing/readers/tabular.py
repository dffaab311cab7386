"""What CSV files and worksheets have in common: a header to find and map to the catalog, then data rows
among rows that are not data.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice, repeat

from kho.catalog import CatalogError, Column, Dataset
from kho.errors import DeliveryError, Plain, Problem
from kho.landing.readers.record import Issue, Record
from kho.landing.values import (
    EXCEL_EPOCH,
    MISSING,
    Ambiguous,
    Cell,
    Decimals,
    Invalid,
    cell_text,
    clean_text,
    convert_text,
    convert_typed,
    number_from_excel,
)

HEADER_SEARCH_ROWS = 20
PENDING_LIMIT = 10_000
CLEANED_LIMIT = 100_000  # distinct texts remembered per file before starting over
BLOCK_ROWS = 512  # rows of a typed worksheet converted together, column by column
BLOCK_WIDTH = 1024  # wider rows (a stray cell far to the right) are read row by row: a block's memory
FOOTNOTE = re.compile(r"^(ghi chú|chú thích|chú giải|nguồn|source|note|\*|\(\*)", re.IGNORECASE)
ORDINAL = re.compile(r"^(?:[IVXLC]+|[A-Z])[.)]?$")  # I, II., A) -- not 1, 2 (row numbers)
HEADING = re.compile(r"^(?:[IVXLC]+|[A-Z])[.)]\s")
NUMBERING = re.compile(r"^\(?(?P<mark>\d{1,3}|[A-Z])\)?(?:\s*=.*)?$")
_NOT_WORD = re.compile(r"[\W_]+")


def header_key(text: str) -> str:
    """A header reduced to lowercase unaccented words: "Diện tích (ha)", "DIEN TICH  (HA)" -> "dien tich ha"."""
    text = unicodedata.normalize("NFD", clean_text(text).casefold().replace("đ", "d"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _NOT_WORD.sub(" ", text).strip()


def column_title(column: Column) -> str:
    """How a column is named to the agency: its first source name, else its catalog name."""
    return column.source_names[0] if column.source_names else column.name


@dataclass(frozen=True)
class Layout:
    """What the catalog says about a tabular delivery, checked once per file."""

    dataset: Dataset
    headers: dict[str, Column]  # header key -> catalog column
    delivered: list[Column]  # the catalog columns a delivery carries (not sheet or section columns)
    ignored: frozenset[str]
    section_column: Column | None
    sheet_column: Column | None
    footer: re.Pattern[str] | None

    @property
    def listing(self) -> str:
        """The expected columns, as told in error messages."""
        required = [column_title(c) for c in self.delivered if c.required]
        optional = [column_title(c) for c in self.delivered if not c.required]
        text = ", ".join(required)
        return f"{text}; optional: {', '.join(optional)}" if optional else text


def layout_problems(datasets: Iterable[Dataset]) -> list[str]:
    """What keeps each tabular dataset's columns from making a layout (``kho catalog validate``)."""
    problems = []
    for ds in datasets:
        if ds.source.format in ("csv", "xlsx"):
            try:
                layout(ds)
            except CatalogError as exc:
                problems.append(str(exc))
    return problems


def layout(ds: Dataset) -> Layout:
    """The dataset's tabular layout, or a CatalogError naming the field that does not fit."""
    where = ds.path or ds.id

    def derived(field_name: str) -> Column | None:
        name = getattr(ds.source, field_name)
        if name is None:
            return None
        try:
            column = ds.column(name)
        except KeyError:
            raise CatalogError(
                f"{where}: field 'source.{field_name}': '{name}' is not one of the columns"
            ) from None
        if column.type != "text":
            raise CatalogError(f"{where}: field 'source.{field_name}': column '{name}' must be of type text")
        return column

    section, sheet = derived("section_column"), derived("sheet_column")
    if sheet and ds.source.sheets != "all":
        raise CatalogError(f"{where}: field 'source.sheet_column' needs 'source.sheets: all'")
    delivered = [c for c in ds.columns if c not in (section, sheet)]
    headers: dict[str, Column] = {}
    for column in delivered:
        for name in [column.name, *column.source_names]:
            key = header_key(name)
            other = headers.setdefault(key, column)
            if other is not column:
                raise CatalogError(
                    f"{where}: columns '{other.name}' and '{column.name}' both accept the header {name!r}"
                )
    ignored = frozenset(header_key(h) for h in ds.source.ignore_columns)
    if clash := ignored & headers.keys():
        raise CatalogError(
            f"{where}: field 'source.ignore_columns': {sorted(clash)} also name catalog columns"
        )
    footer = re.compile(ds.source.footer_pattern, re.IGNORECASE) if ds.source.footer_pattern else None
    return Layout(ds, headers, delivered, ignored, section, sheet, footer)


@dataclass(slots=True)
class Row:
    line: int  # as the agency sees it: CSV line, or Excel row number
    cells: list[Cell]


@dataclass
class Header:
    line: int  # the last header row
    names: list[str]  # per position, as delivered (joined over header rows)
    columns: dict[int, Column]  # position -> catalog column
    plain: bool = field(init=False)  # every position named, each name once: raw values are a plain zip
    # (position, column, column name, column type) per catalog column: what each row's loop reads
    plan: list[tuple[int, Column, str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.plain = all(self.names) and len(set(self.names)) == len(self.names)
        self.plan = [(pos, col, col.name, col.type) for pos, col in self.columns.items()]


@dataclass
class Sheet:
    """One table to read: its rows and what the file format knows about them.

    ``label(pos)`` names a position in messages (CSV "column 7", Excel "G"); ``merges`` are merged ranges as
    ``((line, pos), (line, pos))``; ``broken`` maps ``(line, pos)`` to what a cell really holds when the
    value read is empty for a reason (an error value, a formula never calculated). ``width_is_fixed``: a row
    with a different number of fields than the header is a problem (CSV).
    """

    where: str  # file name, and sheet for workbooks, as shown in messages
    rows: Iterator[Row]
    label: Callable[[int], str]
    merges: list[tuple[tuple[int, int], tuple[int, int]]] | None = None
    broken: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)
    width_is_fixed: bool = False
    text_only: bool = False  # every cell is a str (CSV)
    name: str | None = None  # sheet name, for source.sheet_column
    epoch: dt.datetime = EXCEL_EPOCH


def texts(row: Row) -> list[str]:
    return [clean_text(cell_text(c)) for c in row.cells]


def _fill_merges(grid: list[list[str]], lines: list[int], merges) -> bool:
    """Give every cell of a merged range the text of its top-left cell; False if no merge touches the rows."""
    touched = False
    for (l0, p0), (l1, p1) in merges or []:
        if l1 < lines[0] or l0 > lines[-1]:
            continue
        touched = True
        value = grid[lines.index(l0)][p0] if l0 in lines and p0 < len(grid[lines.index(l0)]) else ""
        for k, line in enumerate(lines):
            if l0 <= line <= l1:
                for p in range(max(p0, 0), min(p1 + 1, len(grid[k]))):
                    grid[k][p] = grid[k][p] or value
    return touched


def header_names(rows: list[Row], merges=None) -> list[str]:
    """One name per position over the header rows: "Lúa đông xuân / Diện tích (ha)"."""
    width = max(len(r.cells) for r in rows)
    grid = [texts(r) + [""] * (width - len(r.cells)) for r in rows]
    if len(rows) > 1 and not _fill_merges(grid, [r.line for r in rows], merges):
        for upper in grid[:-1]:  # no merge information: a blank group cell continues the one on its left
            for p in range(1, width):
                if not upper[p] and grid[-1][p]:
                    upper[p] = upper[p - 1]
    names = []
    for p in range(width):
        parts: list[str] = []
        for row in grid:
            if row[p] and (not parts or parts[-1] != row[p]):
                parts.append(row[p])
        names.append(" / ".join(parts))
    return names


def best_header(head: list[Row], lay: Layout, merges=None) -> tuple[int | None, int]:
    """(index of the first header row, number of catalog columns it names) among the first rows."""
    count, fixed = lay.dataset.source.header_rows, lay.dataset.source.skip_rows
    starts = [fixed] if fixed is not None else range(max(len(head) - count + 1, 1))
    best, best_score = None, 0
    for start in starts:
        rows = head[start : start + count]
        if len(rows) < count:
            continue
        keys = map(header_key, header_names(rows, merges))
        score = len({lay.headers[k].name for k in keys if k in lay.headers})
        if score > best_score:
            best, best_score = start, score
    return best, best_score


def find_header(head: list[Row], lay: Layout, sheet: Sheet) -> tuple[Header, int]:
    """The header in the first rows and the index of the first row after it, or a DeliveryError."""
    ds, count, fixed = lay.dataset, lay.dataset.source.header_rows, lay.dataset.source.skip_rows
    if not any(any(texts(r)) for r in head):
        raise DeliveryError(
            Problem(ds.id, sheet.where, None, None, "a header row and data rows", Plain("nothing"))
        )
    best, _ = best_header(head, lay, sheet.merges)
    if best is None:
        first = next(r for r in head if any(texts(r)))
        found = " | ".join(t for t in texts(first) if t)
        within = f"on row {fixed + 1}" if fixed is not None else f"within the first {HEADER_SEARCH_ROWS} rows"
        raise DeliveryError(
            Problem(
                ds.id, sheet.where, None, None, f"a header naming the columns {lay.listing} {within}", found
            )
        )
    rows = head[best : best + count]
    header = _map_header(header_names(rows, sheet.merges), rows[-1].line, lay, sheet)
    return header, best + count


def _map_header(names: list[str], line: int, lay: Layout, sheet: Sheet) -> Header:
    ds = lay.dataset.id
    columns: dict[int, Column] = {}
    unknown: list[str] = []
    for pos, name in enumerate(names):
        key = header_key(name)
        if not key or key in lay.ignored:
            continue
        column = lay.headers.get(key)
        if column is None:
            unknown.append(name)
            continue
        twin = next((p for p, c in columns.items() if c is column), None)
        if twin is not None:
            raise DeliveryError(
                Problem(
                    ds,
                    sheet.where,
                    line,
                    name,
                    f"each column once ({lay.listing})",
                    Plain(
                        f"columns {sheet.label(twin)} and {sheet.label(pos)} both headed {column_title(column)!r}"
                    ),
                )
            )
        columns[pos] = column
    if unknown:
        more = (
            f" (and {len(unknown) - 1} more: {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""
        )
        raise DeliveryError(
            Problem(
                ds,
                sheet.where,
                line,
                unknown[0],
                f"only the catalog's columns ({lay.listing}); a renamed column needs its new header in the "
                "column's source_names, a column to leave out in source.ignore_columns",
                Plain(f"a column the catalog does not know{more}"),
            )
        )
    present = {c.name for c in columns.values()}
    missing = [column_title(c) for c in lay.delivered if c.required and c.name not in present]
    if missing:
        raise DeliveryError(
            Problem(
                ds,
                sheet.where,
                line,
                None,
                f"a header naming every required column ({lay.listing})",
                Plain(f"no column {', '.join(map(repr, missing))}"),
            )
        )
    return Header(line, names, columns)


def is_numbering(values: list[str]) -> bool:
    """A row numbering the columns under the header: "A B 1 2 3" or "(1) (2) (3)=(1)+(2)".

    Letters first, from A, then numbers from 1, every filled cell a mark: a data row never looks like this.
    """
    filled = [v for v in values if v]
    matches = [NUMBERING.match(v) for v in filled]
    if len(filled) < 2 or not all(matches):
        return False
    marks = [m["mark"] for m in matches if m]
    letters = [m for m in marks if m.isalpha()]
    numbers = [m for m in marks if m.isdigit()]
    return (
        marks == letters + numbers
        and letters == [chr(65 + i) for i in range(len(letters))]
        and numbers == [str(i) for i in range(1, len(numbers) + 1)]
    )


class TableReader:
    """Reads one delivery's tables (a CSV, or the sheets of a workbook) into records.

    It keeps what spans the tables of one file: the decimal-separator evidence and the records held back
    for an ambiguous number.
    """

    def __init__(self, dataset: Dataset, *, column_wise: bool = True):
        self.layout = layout(dataset)
        self.column_wise = column_wise  # False: every row read by itself (what the tests compare against)
        self.dataset = dataset
        self.decimals = Decimals(declared=dataset.source.decimal_separator)
        self.pending: deque[tuple[Record, list[tuple[str, Column, Cell, str]]]] = deque()
        self.delivered = 0
        self._learned = 0
        self._cleaned: dict[str, str] = {}  # clean_text's answers: registers repeat most of their values

    def _clean(self, text: str) -> str:
        cleaned = clean_text(text)
        if len(self._cleaned) >= CLEANED_LIMIT:
            self._cleaned.clear()
        self._cleaned[text] = cleaned
        return cleaned

    def read(self, sheet: Sheet) -> Iterator[Record]:
        """Yield the records of one table (held-back ones may come later, or from :meth:`finish`)."""
        lay, source = self.layout, self.dataset.source
        if source.skip_rows is not None:
            head = list(islice(sheet.rows, source.skip_rows + source.header_rows))
        else:
            head = list(islice(sheet.rows, HEADER_SEARCH_ROWS + source.header_rows - 1))
        header, first = find_header(head, lay, sheet)
        required = [p for p, c in header.columns.items() if c.required]
        named = [p for p, n in enumerate(header.names) if n]
        section: str | None = None
        under_header = True
        known, clean = self._cleaned.get, self._clean
        text_only, footer, first_named = sheet.text_only, lay.footer, named[0]
        first_name = header.names[first_named].casefold()  # a repeated header starts with it
        section_column, sheet_column = lay.section_column, lay.sheet_column
        rows = _chain(head[first:], sheet.rows)
        if text_only or sheet.broken or sheet.width_is_fixed or not self.column_wise:
            pairs: Iterator[tuple[Row, dict | None]] = zip(rows, repeat(None))
        else:
            pairs = _ColumnWise(self, header, sheet, first_named).pairs(rows)
        for row, landed in pairs:
            if landed is not None and not under_header:
                # An ordinary data row of a worksheet, converted with its block: what _record would make.
                self.delivered += 1
                if section_column:
                    landed[section_column.name] = section
                if sheet_column:
                    landed[sheet_column.name] = sheet.name
                record = Record(row.line, partial(_raw, row, header, sheet))
                record.rows.append(landed)
                yield record  # nothing held back to release: only rows read by themselves change that
                continue
            cells = row.cells
            # Text cleaned; a typed workbook cell (number, date) stays as it is, always a value, and is
            # turned into text only where text is needed (messages, quarantine, the checks below).
            if text_only:
                values = [(known(t) or clean(t)) if t else t for t in cells]
                filled = [p for p, v in enumerate(values) if v]
            else:
                values = [c if c.__class__ is not str or not c else (known(c) or clean(c)) for c in cells]
                filled = [p for p, v in enumerate(values) if v or v.__class__ is not str]
            if not filled:
                continue
            if under_header:
                under_header = False
                if is_numbering(_texts(values)):
                    continue
            first_text = _text(values[filled[0]])
            if footer and footer.match(first_text):
                break
            if (
                first_named < len(values)
                and _text(values[first_named]).casefold() == first_name
                and _repeats_header(values, header)
            ):
                continue  # a page break in a printed report, or files concatenated
            heading = _heading(cells, values, filled, named, required) if len(filled) <= 2 else None
            if FOOTNOTE.match(first_text) and (heading is not None or _cannot_land(values, required)):
                continue
            if heading is not None:
                section = heading
                continue
            self.delivered += 1
            record = self._record(row, values, header, sheet, section)
            if record is not None:
                yield record
            if self.pending or len(self.decimals.columns) != self._learned:
                yield from self._release()

    def finish(self) -> Iterator[Record]:
        """Records still held back at the end of the file: an ambiguous number left is an issue."""
        while self.pending:
            yield self._settle(*self.pending.popleft())

    def _record(
        self, row: Row, values: list[Cell], header: Header, sheet: Sheet, section: str | None
    ) -> Record | None:
        """The record of one data row; None when it waits for the file to settle an ambiguous number."""
        names, cells, width = header.names, row.cells, len(header.names)
        broken = sheet.broken
        record = Record(row.line, lambda: _raw(row, header, sheet))  # made only if the row is held
        if sheet.width_is_fixed and len(cells) != width:
            short = len(cells) < width and names[len(cells)]
            column = short or sheet.label(min(len(cells), width))
            record.issues.append(Issue(column, f"{width} fields like the header", f"{len(cells)} fields"))
            return record
        landed: dict[str, object] = {}
        unsure: list[tuple[str, Column, Cell, str]] = []
        count, decimals, epoch = len(cells), self.decimals, sheet.epoch
        for pos, column, name, kind in header.plan:
            if pos >= count:
                landed[name] = None
                continue
            cell = cells[pos]
            if broken and (row.line, pos) in broken:
                found, expected = broken[(row.line, pos)]
                record.issues.append(Issue(names[pos], expected, found))
                continue
            try:
                if cell.__class__ is str:
                    value = values[pos]
                    if kind == "text":  # convert_text's first two cases, the most common, inline
                        landed[name] = None if value in MISSING else value
                    else:
                        landed[name] = convert_text(value, column, decimals, epoch)
                else:
                    landed[name] = convert_typed(cell, column, epoch)
            except Ambiguous:
                unsure.append((names[pos], column, values[pos], cell))
            except Invalid as exc:
                record.issues.append(Issue(names[pos], exc.expected, _shown(column, cell_text(cell))))
        if len(header.columns) < len(values):
            for pos, value in enumerate(values):
                if (
                    (value or value.__class__ is not str)
                    and pos not in header.columns
                    and (pos >= width or not names[pos])
                ):
                    record.issues.append(
                        Issue(sheet.label(pos), "nothing outside the named columns", _text(value))
                    )
        if self.layout.section_column:
            landed[self.layout.section_column.name] = section
        if self.layout.sheet_column:
            landed[self.layout.sheet_column.name] = sheet.name
        record.rows.append(landed)
        if unsure:
            self.pending.append((record, unsure))
            return None
        return record

    def _release(self) -> Iterator[Record]:
        """Yield held-back records that the file's evidence now settles, and the oldest beyond the limit."""
        learned = len(self.decimals.columns)
        if learned != self._learned:
            self._learned = learned
            still: deque = deque()
            for record, unsure in self.pending:
                if all(self.decimals.separator(c.name) for _, c, _, _ in unsure):
                    yield self._settle(record, unsure)
                else:
                    still.append((record, unsure))
            self.pending = still
        while len(self.pending) > PENDING_LIMIT:
            yield self._settle(*self.pending.popleft())

    def _settle(self, record: Record, unsure: list[tuple[str, Column, Cell, str]]) -> Record:
        for name, column, text, shown in unsure:
            try:
                record.rows[0][column.name] = convert_text(text, column, self.decimals)
            except Invalid as exc:
                record.issues.append(Issue(name, exc.expected, _shown(column, shown)))
        return record


class _ColumnWise:
    """The ordinary data rows of a worksheet with typed cells, converted a block of rows at a time, column by
    column, instead of cell by cell: the same values as :meth:`TableReader._record`, at a fraction of the
    cost per cell (numbers and dates arrive typed; a column holds one kind of value).

    A row is converted here only when nothing about it needs the row-by-row reading: at least three cells
    filled (never a heading), every required column filled (never a footnote; with none required, a
    first text not a footnote's), a first text not the footer's, a first named cell not the header's, no
    value outside the named columns, and every cell converting as it is (text in a text column, a number
    in a number column, a date in a date column, a missing mark). Any other row is left to the row-by-row
    reading (None), which says what is wrong with it, waits for the file's decimal separator, or ends the
    table, exactly as for every row before. A block in which no row converts (numbers stored as text, say)
    ends the conversion for the rest of the table: what it costs would be spent for nothing.
    """

    def __init__(self, reader: TableReader, header: Header, sheet: Sheet, first_named: int):
        lay = reader.layout
        self.known, self.clean = reader._cleaned.get, reader._clean
        self.header, self.epoch, self.footer = header, sheet.epoch, lay.footer
        self.names = [name for _, _, name, _ in header.plan]
        self.required = [i for i, (_, column, _, _) in enumerate(header.plan) if column.required]
        self.first_named = first_named  # the position a repeated header is recognised by, as read() does
        self.first_name = header.names[first_named].casefold()

    def pairs(self, rows: Iterator[Row]) -> Iterator[tuple[Row, dict | None]]:
        """Each row with its landed values, or None where the row-by-row reading must read it."""
        while block := list(islice(rows, BLOCK_ROWS)):
            landed = self.landed(block)
            yield from zip(block, landed, strict=True)
            if not any(landed):
                yield from zip(rows, repeat(None))
                return

    def landed(self, block: list[Row]) -> list[dict | None]:
        count, length = len(block), len(block[0].cells)
        if not self.names or length > BLOCK_WIDTH or any(len(row.cells) != length for row in block):
            return [None] * count
        known, clean = self.known, self.clean
        values = [
            [c if c.__class__ is not str or not c else (known(c) or clean(c)) for c in cells]
            for cells in zip(*(row.cells for row in block), strict=True)
        ]  # per position, text cleaned as the row-by-row reading cleans it
        slow: set[int] = set()
        converted = []
        for pos, column, _, kind in self.header.plan:
            if pos >= length:
                converted.append([None] * count)
                continue
            column_values, odd = _convert_column(values[pos], column, kind, self.epoch)
            converted.append(column_values)
            slow.update(odd)
        for i in self.required:
            slow.update(k for k, v in enumerate(converted[i]) if v is None)
        if len(self.required) < 3:  # else three cells are filled already
            filled = [[v.__class__ is not str or v != "" for v in column] for column in values]
            slow.update(k for k, n in enumerate(map(sum, zip(*filled, strict=True))) if n < 3)
        if self.footer or not self.required:
            for k, text in enumerate(_first_texts(values, count)):
                if text is None or (self.footer and self.footer.match(text)):
                    slow.add(k)
                elif not self.required and FOOTNOTE.match(text):
                    slow.add(k)
        if self.first_named < length:
            name = self.first_name
            slow.update(k for k, v in enumerate(values[self.first_named]) if _text(v).casefold() == name)
        header = self.header
        if len(header.columns) < length:
            width = len(header.names)
            for pos in range(length):
                if pos not in header.columns and (pos >= width or not header.names[pos]):
                    slow.update(k for k, v in enumerate(values[pos]) if v.__class__ is not str or v)
        names = self.names
        landed: list[dict | None] = [
            dict(zip(names, row, strict=True)) for row in zip(*converted, strict=True)
        ]
        for k in slow:
            landed[k] = None
        return landed


class _Slow:
    """A cell the block conversion leaves to the row-by-row reading."""


SLOW = _Slow()


def _convert_column(
    values: list[Cell], column: Column, kind: str, epoch: dt.datetime
) -> tuple[list, list[int]]:
    """One column of a block converted (cleaned text, or typed cells), and the rows where a cell did not
    convert as it is (SLOW)."""
    if kind == "text":  # convert_text's and convert_typed's answers for a text column
        return [(None if v in MISSING else v) if v.__class__ is str else cell_text(v) for v in values], []
    odd = 0

    def one(value: Cell) -> object:
        nonlocal odd
        if value.__class__ is str:
            if value in MISSING:
                return None
        else:
            try:
                return convert_typed(value, column, epoch)
            except Exception:  # the row-by-row reading says what is wrong, in its turn
                pass
        odd += 1
        return SLOW

    try:
        if kind == "numeric" or kind == "integer":
            integer = kind == "integer"
            out = [number_from_excel(v, integer=integer) if v.__class__ is float else one(v) for v in values]
        elif kind == "date":
            out = [v if v.__class__ is dt.date else one(v) for v in values]
        else:
            out = [one(v) for v in values]
    except Exception:  # noqa: BLE001 (a float that is not a number of the column's kind: cell by cell)
        odd = 0
        out = [one(v) for v in values]
    return out, [k for k, v in enumerate(out) if v is SLOW] if odd else []


def _first_texts(values: list[list[Cell]], count: int) -> list[str | None]:
    """Each row's first filled value as text (None for an empty row), as the row-by-row reading finds it."""
    texts: list[str | None] = [None] * count
    left = range(count)
    for column in values:
        rest = []
        for k in left:
            value = column[k]
            if value.__class__ is not str:
                texts[k] = _text(value)
            elif value:
                texts[k] = value
            else:
                rest.append(k)
        left = rest
        if not left:
            break
    return texts


PERSONAL_VALUE = Plain("a value not shown here (personal data)")


def _shown(column: Column, found: str) -> str:
    """A wrong value as messages show it: never one of a column holding personal data (the value stays in
    quarantine, where only the data centre reads it)."""
    return PERSONAL_VALUE if column.personal_data else found


def _raw(row: Row, header: Header, sheet: Sheet) -> dict[str, str]:
    """A row's cells as delivered, by header name, as text: what quarantine keeps."""
    names, width, broken = header.names, len(header.names), sheet.broken
    shown = [c if c.__class__ is str else cell_text(c) for c in row.cells]
    if header.plain and len(shown) == width and not broken:
        raw = dict(zip(names, shown, strict=True))
    else:
        raw = {}
        for pos, text in enumerate(shown):
            name = names[pos] if pos < width else ""
            if broken and (row.line, pos) in broken:
                text = broken[(row.line, pos)][0]
            if name or text:
                name = name or sheet.label(pos)
                raw[name if name not in raw else f"{name} ({sheet.label(pos)})"] = text
    if sheet.name is not None:
        raw["_sheet"] = sheet.name
    return raw


def _text(value: Cell) -> str:
    """A value of a row as text: cleaned text stays, a typed cell is written as Excel shows it."""
    return value if value.__class__ is str else clean_text(cell_text(value))


def _texts(values: list[Cell]) -> list[str]:
    return [_text(v) for v in values]


def _cannot_land(values: list[str], required: list[int]) -> bool:
    """A required column is empty (or the catalog requires none, so nothing vouches for the row)."""
    return not required or any(p >= len(values) or values[p] in MISSING for p in required)


def _repeats_header(values: list[Cell], header: Header) -> bool:
    """Whether the row is the header again (asked of rows whose first named cell reads as the header's)."""
    return [header_key(v) for v in _texts(values[: len(header.names)])] == [
        header_key(n) for n in header.names
    ]


def _heading(
    cells: list[Cell], values: list[str], filled: list[int], named: list[int], required
) -> str | None:
    """The text of a section heading row ("I. VẬT LIỆU XÂY DỰNG"), or None if the row is not one (asked of
    rows with at most two cells filled)."""
    if len(named) < 3 or not all(p <= named[1] and isinstance(cells[p], str) for p in filled):
        return None
    words = [values[p] for p in filled]
    if len(words) == 1:
        text = words[0]
        if not any(ch.isalpha() for ch in text):
            return None
        if text == text.upper() or HEADING.match(text) or _cannot_land(values, required):
            return text
        return None
    if ORDINAL.match(words[0]) and any(ch.isalpha() for ch in words[1]):
        return f"{words[0]} {words[1]}"
    return None


def _chain(first: list[Row], rest: Iterator[Row]) -> Iterator[Row]:
    yield from first
    yield from rest
