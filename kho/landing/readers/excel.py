"""Excel deliveries (.xlsx, and legacy .xls), read with calamine after the file has been vetted.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import logging
import posixpath
import re
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from xml.etree import ElementTree

from python_calamine import CalamineWorkbook, PasswordError, SheetTypeEnum, SheetVisibleEnum

from kho.catalog import Dataset
from kho.errors import DeliveryError, Plain, Problem
from kho.landing.readers.record import Record
from kho.landing.readers.tabular import Row, Sheet, TableReader, header_key
from kho.landing.values import EXCEL_1904_EPOCH, EXCEL_EPOCH

log = logging.getLogger(__name__)

MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 100
MAX_MEMBERS = 10_000
MAX_XLS_BYTES = 100 * 1024 * 1024
MAX_BROKEN_CELLS = 100_000
RATIO_FLOOR = 1024 * 1024  # parts smaller than this may compress as well as they like
MAX_XML = 10 * 1024 * 1024  # workbook.xml and its relationships: a few KB in real workbooks

ZIP = b"PK\x03\x04"
EMPTY_ZIP = b"PK\x05\x06"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")

_MARK = re.compile(rb"<(?:\w+:)?f[\s>/]|\st=\"e\"")
_CELL_START = re.compile(rb"<(?:\w+:)?c[\s>]")
_CELL_END = re.compile(rb"</(?:\w+:)?c>")
_REF = re.compile(rb"\sr=\"([A-Z]{1,3})([0-9]{1,7})\"")
_FORMULA = re.compile(rb"<(?:\w+:)?f\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?f>)", re.DOTALL)
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")

UNSAVED_FORMULA = (
    "a value, not a formula whose result was never saved (open the file in Excel and save it again)"
)
ERROR_VALUE = "a value, not an Excel error"


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_index(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


# --- what kind of file is it ---------------------------------------------------------------------------


def refuse(
    dataset: str, file: str, found: str, expected: str = "an Excel workbook (.xlsx or .xls)"
) -> DeliveryError:
    return DeliveryError(Problem(dataset, file, None, None, expected, Plain(found)))


def identify(path: Path, dataset: str, file: str) -> str:
    """'xlsx' or 'xls' from the first bytes, or a DeliveryError saying what the file is instead."""
    with path.open("rb") as f:
        start = f.read(4096)
    if not start:
        raise refuse(dataset, file, "an empty file")
    if start.startswith(ZIP):
        return "xlsx"
    if start.startswith(EMPTY_ZIP):
        raise refuse(dataset, file, "an empty zip archive")
    if start.startswith(OLE):
        if _contains(path, ENCRYPTED_PACKAGE):
            raise refuse(
                dataset,
                file,
                "a password-protected workbook (remove the password in Excel and send it again)",
            )
        if path.stat().st_size > MAX_XLS_BYTES:
            raise refuse(dataset, file, f"an .xls file over {MAX_XLS_BYTES >> 20} MB")
        return "xls"
    text = start.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<html", b"<!doctype html", b"<table", b"<meta", b"<head", b"<body")):
        raise refuse(
            dataset, file, "a web page (HTML) saved with an Excel name; open it in Excel and save as .xlsx"
        )
    if text.startswith(b"<?xml"):
        if b"urn:schemas-microsoft-com:office:spreadsheet" in start:
            raise refuse(dataset, file, "an XML Spreadsheet 2003; open it in Excel and save as .xlsx")
        raise refuse(dataset, file, "an XML file")
    if b"\x00" not in start and _looks_like_text(start):
        raise refuse(dataset, file, "a text file (a CSV with an Excel name?)")
    raise refuse(dataset, file, f"a file starting with bytes {start[:8].hex(' ')}")


def _looks_like_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(data) - 4  # a character cut at the end of the sample
    return True


def _contains(path: Path, needle: bytes) -> bool:
    with path.open("rb") as f:
        tail = b""
        while chunk := f.read(1 << 20):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
    return False


# --- the zip container ---------------------------------------------------------------------------------


@dataclass
class SheetScan:
    formulas: int = 0
    first_formula: str | None = None
    broken: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)  # (row, col) 0-based


@dataclass
class Workbook:
    """What the zip says about the workbook, before calamine opens it."""

    sheet_parts: dict[str, str]  # sheet name -> zip member
    date1904: bool
    scans: dict[str, SheetScan]  # sheet name -> formulas and broken cells


def vet_xlsx(path: Path, dataset: str, file: str, *, scan: bool = True) -> Workbook:
    """Check the zip before anyone inflates it, then inflate it once, noting the worksheets' odd cells
    (with ``scan``; else :func:`scan_sheets` does that later, while calamine reads the sheets)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise refuse(dataset, file, "a damaged or truncated zip archive", "a complete .xlsx file") from None
    with zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        if len(infos) > MAX_MEMBERS:
            raise refuse(
                dataset,
                file,
                f"a zip of {len(infos):,} parts",
                f"a workbook of at most {MAX_MEMBERS:,} parts",
            )
        if "xl/workbook.xml" not in names:
            if "xl/workbook.bin" in names:
                raise refuse(dataset, file, "a binary workbook (.xlsb); save it as .xlsx")
            if "content.xml" in names:
                raise refuse(dataset, file, "an OpenDocument spreadsheet (.ods); save it as .xlsx")
            raise refuse(dataset, file, "a zip archive that is not a workbook (no xl/workbook.xml)")
        if any(i.flag_bits & 0x1 for i in infos):
            raise refuse(dataset, file, "an encrypted zip")
        declared = sum(i.file_size for i in infos)
        if declared > MAX_UNCOMPRESSED:
            raise refuse(dataset, file, _size_text(declared), _size_limit())
        for info in infos:
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise refuse(
                    dataset,
                    file,
                    f"part {info.filename!r} expanding {info.file_size // max(info.compress_size, 1):,} times",
                    f"a workbook whose parts expand at most {MAX_RATIO} times",
                )
        sheet_parts, date1904 = _sheet_parts(zf, names)
        scan_parts = {part: name for name, part in sheet_parts.items() if part in names}
        scans = {name: SheetScan() for name in scan_parts.values()}
        total = 0
        for info in infos:
            sheet_scan = scans.get(scan_parts.get(info.filename, "")) if scan else None
            total = _inflate(zf, info, total, sheet_scan, dataset, file)
    return Workbook(sheet_parts, date1904, scans)


def scan_sheets(path: Path, workbook: Workbook, dataset: str, file: str) -> None:
    """Note the formula and error cells of the worksheets of a workbook vetted without ``scan``."""
    if not workbook.scans:  # an .xls, or no worksheet found in the zip
        return
    with zipfile.ZipFile(path) as zf:
        for name, scan in workbook.scans.items():
            _inflate(zf, zf.getinfo(workbook.sheet_parts[name]), 0, scan, dataset, file)


def _size_text(size: int) -> str:
    return f"a workbook expanding to {size / 2**20:,.1f} MB"


def _size_limit() -> str:
    return f"a workbook expanding to at most {MAX_UNCOMPRESSED / 2**20:,.0f} MB"


def _inflate(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, total: int, scan: SheetScan | None, ds: str, file: str
) -> int:
    """Inflate one part, counting real bytes against the limits; scan a worksheet's cells on the way. A part
    that cannot be inflated is refused as damaged."""
    try:
        return _inflate_part(zf, info, total, scan, ds, file)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError) as exc:
        raise refuse(ds, file, f"a damaged part {info.filename!r} ({exc})", "a complete .xlsx file") from None


def _inflate_part(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, total: int, scan: SheetScan | None, ds: str, file: str
) -> int:
    size = 0
    pending = b""
    with zf.open(info) as part:
        while chunk := part.read(1 << 20):
            size += len(chunk)
            if total + size > MAX_UNCOMPRESSED:
                raise refuse(ds, file, _size_text(total + size) + " or more", _size_limit())
            if size > RATIO_FLOOR and size > MAX_RATIO * max(info.compress_size, 1):
                raise refuse(
                    ds,
                    file,
                    f"part {info.filename!r} expanding over {MAX_RATIO} times",
                    f"a workbook whose parts expand at most {MAX_RATIO} times",
                )
            if scan is not None:
                pending += chunk
                cut = pending.rfind(b"row>") + 4  # after </row> (or <row>): no cell is cut in two
                if cut > 3:
                    _scan_cells(pending[:cut], scan, ds, file)
                    pending = pending[cut:]
    if scan is not None and pending:
        _scan_cells(pending, scan, ds, file)
    return total + size


def _scan_cells(xml: bytes, scan: SheetScan, ds: str, file: str) -> None:
    """Note formula cells and error cells in a run of complete worksheet rows."""
    if b"<f" not in xml and b":f" not in xml and b't="e"' not in xml:
        return  # the common case, found at memchr speed
    done = -1
    for mark in _MARK.finditer(xml):
        starts = list(_CELL_START.finditer(xml, max(done + 1, mark.start() - 8192), mark.start()))
        if not starts:
            continue
        done = starts[-1].start()
        tag_end = xml.find(b">", done) + 1
        tag = xml[done:tag_end]
        end = None if tag.endswith(b"/>") else _CELL_END.search(xml, tag_end)
        cell = xml[done : end.end() if end else tag_end]
        ref = _REF.search(tag)
        if ref is None:
            continue
        where = (int(ref[2]) - 1, column_index(ref[1].decode()))
        value = _VALUE.search(cell)
        formula = _FORMULA.search(cell)
        if formula:
            scan.formulas += 1
            scan.first_formula = scan.first_formula or (ref[1] + ref[2]).decode()
        if b't="e"' in tag:
            code = unescape(value[1].decode()) if value else "#ERROR"
            scan.broken[where] = (code, ERROR_VALUE)
        elif formula and not (value and value[1]):
            text = unescape((formula[1] or b"").decode("utf-8", "replace"))
            scan.broken[where] = ("=" + text if text else "=(shared formula)", UNSAVED_FORMULA)
        if len(scan.broken) > MAX_BROKEN_CELLS:
            raise refuse(
                ds,
                file,
                f"more than {MAX_BROKEN_CELLS:,} cells holding errors or unsaved formulas",
                "a workbook with its values saved",
            )


def _sheet_parts(zf: zipfile.ZipFile, names: set[str]) -> tuple[dict[str, str], bool]:
    """Sheet name -> worksheet part, and whether dates count from 1904 (old Mac workbooks)."""
    rels_name = "xl/_rels/workbook.xml.rels"
    if (
        rels_name not in names
        or max(zf.getinfo(n).file_size for n in (rels_name, "xl/workbook.xml")) > MAX_XML
    ):
        return {}, False  # no formula scan; calamine will say what is wrong, if anything
    try:
        workbook = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read(rels_name))
    except (ElementTree.ParseError, zipfile.BadZipFile, OSError):
        return {}, False
    targets = {}
    for rel in rels:
        target = rel.get("Target", "")
        part = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        )
        targets[rel.get("Id")] = part
    parts: dict[str, str] = {}
    date1904 = False
    for element in workbook.iter():
        local = element.tag.rsplit("}", 1)[-1]
        if local == "workbookPr":
            date1904 = element.get("date1904", "").lower() in ("1", "true")
        elif local == "sheet":
            rid = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
            if rid in targets:
                parts[element.get("name", "")] = targets[rid]
    return parts, date1904


# --- reading --------------------------------------------------------------------------------------------


def _open(path: Path, dataset: str, file: str) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_path(str(path))
    except PasswordError:
        raise refuse(
            dataset, file, "a password-protected workbook (remove the password and send it again)"
        ) from None
    except Exception as exc:  # calamine's errors name the part that failed; show them as found
        raise refuse(dataset, file, f"an unreadable workbook ({type(exc).__name__}: {exc})") from None


def choose_sheets(wb: CalamineWorkbook, dataset: Dataset, file: str) -> list[str]:
    """The names of the sheets to read, as the catalog asks; refused if they are not there."""
    source, ds = dataset.source, dataset.id
    worksheets = [m for m in wb.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    visible = [m.name for m in worksheets if m.visible == SheetVisibleEnum.Visible]
    listing = ", ".join(repr(m.name) for m in worksheets)
    if source.sheets == "all":
        skip = {header_key(s) for s in source.skip_sheets}
        chosen = [n for n in visible if header_key(n) not in skip]
        if not chosen:
            raise refuse(ds, file, f"sheets {listing}", "at least one visible sheet to read")
        return chosen
    if source.sheet is None:
        if not visible:
            raise refuse(ds, file, "no visible worksheet", "a workbook with a visible worksheet")
        return [visible[0]]
    if isinstance(source.sheet, int):
        if not 1 <= source.sheet <= len(worksheets):
            raise refuse(
                ds, file, f"{len(worksheets)} worksheets ({listing})", f"a sheet number {source.sheet}"
            )
        return [worksheets[source.sheet - 1].name]
    for m in worksheets:
        if m.name == source.sheet or header_key(m.name) == header_key(source.sheet):
            return [m.name]
    raise refuse(ds, file, f"sheets {listing}", f"a sheet named {source.sheet!r}")


def read(dataset: Dataset, path: Path, file_name: str) -> Iterator[Record]:
    """Yield one record per data row of the chosen sheet(s)."""
    ds = dataset.id
    kind = identify(path, ds, file_name)
    tables = TableReader(dataset)
    vetted = vet_xlsx(path, ds, file_name, scan=False) if kind == "xlsx" else Workbook({}, False, {})
    # The sizes are known to be safe: calamine parses (without Python's lock) while the worksheets are
    # scanned for formulas and error cells; the scan's refusal comes first, as if it had run before.
    with ThreadPoolExecutor(max_workers=1) as pool:
        scanning = pool.submit(scan_sheets, path, vetted, ds, file_name)
        yield from _read_sheets(path, dataset, file_name, tables, vetted, scanning)
    if tables.delivered == 0:
        raise DeliveryError(
            Problem(ds, file_name, None, None, "at least one data row after the header", Plain("none"))
        )


def _read_sheets(
    path: Path, dataset: Dataset, file_name: str, tables: TableReader, vetted: Workbook, scanning: Future
) -> Iterator[Record]:
    ds = dataset.id
    try:
        wb = _open(path, ds, file_name)
    except DeliveryError:
        scanning.result()
        raise
    with wb:
        names = choose_sheets(wb, dataset, file_name)
        epoch = EXCEL_1904_EPOCH if vetted.date1904 else EXCEL_EPOCH
        for name in names:
            where = f"{file_name}, sheet {name!r}"
            try:
                sheet = wb.get_sheet_by_name(name)
            except Exception as exc:
                scanning.result()
                raise refuse(ds, where, f"an unreadable sheet ({type(exc).__name__}: {exc})") from None
            scanning.result()
            if sheet.start is None:
                if len(names) == 1:
                    raise refuse(ds, where, "an empty sheet", "a header row and data rows")
                continue
            scan = vetted.scans.get(name, SheetScan())
            if scan.formulas:
                log.warning(
                    "%s: %s: %d cells hold formulas (the first in %s); their saved results were read",
                    ds,
                    where,
                    scan.formulas,
                    scan.first_formula,
                )
            yield from tables.read(_table(sheet, where, scan, epoch, name if dataset.source.sheets else None))
        yield from tables.finish()


def _table(sheet, where: str, scan: SheetScan, epoch, name: str | None) -> Sheet:
    """A calamine sheet as rows in Excel's numbering (calamine yields rows from the first, columns from
    the first used one)."""
    offset = sheet.start[1]
    ranges = sheet.merged_cell_ranges or []
    merges = [((r0 + 1, c0 - offset), (r1 + 1, c1 - offset)) for (r0, c0), (r1, c1) in ranges]
    broken = {(r + 1, c - offset): what for (r, c), what in scan.broken.items()}
    return Sheet(
        where,
        _filled_down(sheet, merges),
        label=lambda pos: column_letter(pos + offset),
        merges=merges,
        broken=broken,
        name=name,
        epoch=epoch,
    )


def _filled_down(sheet, merges: list[tuple[tuple[int, int], tuple[int, int]]]) -> Iterator[Row]:
    """Rows, with a cell merged down over several rows ("Huyện A" beside each of its communes) repeated
    in every row it spans, as a reader of the sheet sees it. Merges across columns are not repeated."""
    if not merges:
        for line, cells in enumerate(sheet.iter_rows(), 1):
            yield Row(line, cells)
        return
    last = sheet.end[0] + 1
    tops: dict[int, list[int]] = {}  # line -> positions whose value fills the rows below
    below: dict[int, list[tuple[int, int]]] = {}  # line -> [(position, line of the value)]
    for (l0, p0), (l1, _) in merges:
        if l1 > l0 and p0 >= 0:
            tops.setdefault(l0, []).append(p0)
            for line in range(l0 + 1, min(l1, last) + 1):
                below.setdefault(line, []).append((p0, l0))
    kept: dict[tuple[int, int], object] = {}
    for i, cells in enumerate(sheet.iter_rows()):
        line = i + 1
        for pos in tops.get(line, ()):
            kept[(line, pos)] = cells[pos] if pos < len(cells) else ""
        for pos, top in below.get(line, ()):
            if pos < len(cells) and cells[pos] == "":
                cells[pos] = kept.get((top, pos), "")
        yield Row(line, cells)
