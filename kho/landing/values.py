"""Turn one delivered cell into the Python value its catalog column declares, or say what was expected.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from kho.catalog import Column

VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")
EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # the 1900 date system, including Lotus' phantom 29/02/1900
EXCEL_1904_EPOCH = dt.datetime(1904, 1, 1)
SERIAL_RANGE = (10_000, 80_000)
BIGINT = 2**63

# Cells that mean "no value" in Vietnamese statistical tables: empty, a dash (nothing to report) and the
# dots for "not available".
MISSING = frozenset({"", "-", "--", "–", "—", "..", "...", "…"})
TRUE_WORDS = frozenset({"có", "co", "x", "true", "đúng", "dung", "yes", "y", "1", "v", "✓", "✔"})
FALSE_WORDS = frozenset({"không", "khong", "false", "sai", "no", "n", "0"})

_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_GROUP_SPACES = re.compile(r"(?<=\d)[ \u00a0\u202f\u2009](?=\d{3}(?:\D|$))")
_NUMBER = re.compile(r"^\d*(?:[.,]\d+)*$")
_SEPARATOR = re.compile(r"[.,]")
_SCIENTIFIC = re.compile(r"^\d+(?:[.,]\d+)?[eE][+-]?\d+$")
_ISO_DATE = re.compile(r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})$")
_DAY_FIRST = re.compile(r"^(?P<d>\d{1,2})[-/.](?P<m>\d{1,2})[-/.](?P<y>\d{2,4})$")
_LONG_DATE = re.compile(r"^ngày\s*(?P<d>\d{1,2})\s*tháng\s*(?P<m>\d{1,2})\s*năm\s*(?P<y>\d{4})$")
_TIME = re.compile(
    r"^(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,6}))?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)

DATE_EXPECTED = "a date like 31/12/2024 or 2024-12-31"
TIMESTAMP_EXPECTED = "a date and time like 31/12/2024 14:30 or 2024-12-31T14:30:00+07:00"
BOOLEAN_EXPECTED = "yes or no: có/không, x, true/false or 1/0"


class Invalid(ValueError):
    """A cell that does not fit its column; ``expected`` says what would have."""

    def __init__(self, expected: str):
        super().__init__(expected)
        self.expected = expected


class Ambiguous(Invalid):
    """A number readable two ways (``1.234``) with nothing yet saying which separator the file uses."""


def clean_text(text: str) -> str:
    """NFC, no invisible characters, inner whitespace (newlines, non-breaking spaces) collapsed to one space.

    A leading ``=``, ``+``, ``-`` or ``@`` is kept: raw data stays as delivered, formula injection is
    neutralised only when publishing.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        if _INVISIBLE.search(text):
            text = _INVISIBLE.sub("", text)
    return " ".join(text.split())


# --- numbers ---------------------------------------------------------------------------------------------


@dataclass
class Decimals:
    """What a file has shown about its decimal separator: declared, per column, and over all columns.

    A file whose columns disagree (one shows ``1,5``, another ``2.5``) gives no file-wide evidence; each
    column then stands on its own.
    """

    declared: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def own(self, column: str) -> str | None:
        """The separator the catalog declares or the column itself has shown: values must agree with it."""
        return self.declared or self.columns.get(column)

    def separator(self, column: str) -> str | None:
        """The separator to read an ambiguous value with: the column's own, else the file's."""
        return self.own(column) or (next(iter(self.seen)) if len(self.seen) == 1 else None)

    def learn(self, column: str, separator: str) -> None:
        if self.declared or column in self.columns:
            return
        self.columns[column] = separator
        self.seen.add(separator)


def _number_body(text: str) -> str | None:
    """Digits and separators only, or None if the text has anything else."""
    body = text if text.isascii() and " " not in text else _GROUP_SPACES.sub("", text)
    return body if body and _NUMBER.match(body) else None


def _split(body: str) -> tuple[str | None, str | None]:
    """(normalised digits with '.' as decimal point, revealed decimal separator) for an unsigned body.

    The first element is None when the body is ambiguous (``1.234``) or malformed (``1.23.4``).
    """
    if "." not in body and "," not in body:
        return body, None
    seps = [c for c in body if c in ".,"]
    groups = _SEPARATOR.split(body)
    if len(set(seps)) == 2:
        decimal = seps[-1]
        thousands = seps[0]
        if seps.count(decimal) != 1 or body.rindex(thousands) > body.index(decimal):
            return None, None
        whole = groups[:-1]
        if not _grouped(whole):
            return None, None
        return "".join(whole) + "." + groups[-1], decimal
    sep = seps[0]
    other = "," if sep == "." else "."
    if len(seps) > 1:
        return ("".join(groups), other) if _grouped(groups) else (None, None)
    if _is_ambiguous(body):
        return None, None
    head, tail = groups
    return (head or "0") + "." + tail, sep


def _grouped(groups: list[str]) -> bool:
    return 1 <= len(groups[0]) <= 3 and not groups[0].startswith("0") and all(len(g) == 3 for g in groups[1:])


def _with_separator(body: str, decimal: str) -> str:
    """Read an ambiguous body with a known decimal separator."""
    head, tail = _SEPARATOR.split(body)
    if body[len(head)] == decimal:
        return head + "." + tail
    return head + tail


def parse_number(
    text: str,
    *,
    decimal: str | None = None,
    guess: str | None = None,
    unit: str | None = None,
    integer: bool = False,
) -> Decimal:
    """A cleaned, non-missing cell as a Decimal; see the module docstring for the separator rule.

    ``decimal`` is the separator known for this column (declared or shown by its values): a value showing
    the other one is refused. ``guess`` (what the rest of the file shows) only settles ambiguous values.
    ``unit`` '%' lets a trailing ``%`` through.
    """
    return read_number(text, decimal=decimal, guess=guess, unit=unit, integer=integer)[0]


def read_number(
    text: str,
    *,
    decimal: str | None = None,
    guess: str | None = None,
    unit: str | None = None,
    integer: bool = False,
) -> tuple[Decimal, str | None]:
    """:func:`parse_number` and the decimal separator the value revealed (None if it showed none)."""
    if text.isascii() and text.isdigit() and len(text) < 19:
        return Decimal(text), None  # the common case: plain digits
    what = "a whole number" if integer else "a number"
    expected = f"{what} like 1.250.000 or 1250000" if integer else f"{what} like 1.234,5 or 1234.5"
    sign, body = 1, text.replace("\u2212", "-")
    if body.startswith("(") and body.endswith(")"):
        sign, body = -1, body[1:-1].strip()
    if body[:1] in ("+", "-"):
        sign, body = (-sign if body[0] == "-" else sign), body[1:].strip()
    if body.endswith("%"):
        if unit != "%":
            raise Invalid(f"{expected} (a percentage only in a column whose unit is '%')")
        body = body[:-1].rstrip()
    if _SCIENTIFIC.match(body) and not integer:
        return sign * Decimal(body.replace(",", ".")), None
    digits = _number_body(body)
    if digits is None:
        raise Invalid(expected)
    plain, revealed = _split(digits)
    if revealed and decimal and revealed != decimal:
        style = "decimal comma (1.234,5)" if decimal == "," else "decimal point (1,234.5)"
        raise Invalid(f"{what} written like the column's other values, with a {style}")
    if plain is None and _is_ambiguous(digits):
        if decimal or guess:
            plain = _with_separator(digits, decimal or guess)
        elif integer:
            plain = digits.replace(".", "").replace(",", "")  # 1.234 is a whole number only as 1234
        else:
            raise Ambiguous(
                f"{what} with a clear decimal separator ({digits} could be "
                f"{digits.replace(',', '.')} or {digits.replace('.', '').replace(',', '')}; "
                "the catalog can declare source.decimal_separator)"
            )
    if plain is None:
        raise Invalid(expected)
    value = sign * Decimal(plain)
    if integer:
        if value != value.to_integral_value():
            raise Invalid(expected)
        if abs(value) >= BIGINT:
            raise Invalid(f"{what} between -9.2e18 and 9.2e18")
    return value, revealed


def _is_ambiguous(digits: str) -> bool:
    """One separator, 1-3 digits (not starting with 0) before it and exactly 3 after: ``1.234``."""
    parts = _SEPARATOR.split(digits)
    return len(parts) == 2 and len(parts[1]) == 3 and 1 <= len(parts[0]) <= 3 and not parts[0].startswith("0")


def number_from_excel(value: float | int, *, integer: bool = False) -> Decimal | int:
    """An Excel number as Excel shows it (15 significant digits, so 0.1+0.2 lands as 0.3)."""
    if value.__class__ is float and value.is_integer() and -1e15 < value < 1e15:
        whole = int(value)  # the common case, and exact: a whole number below 10^15
        return whole if integer else Decimal(whole)
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid("a finite number")
    text = format(value, ".15g") if isinstance(value, float) else str(value)
    number = Decimal(text)
    if not integer and "." in text and "e" not in text:
        return number  # a fraction written out: nothing to normalise ('g' leaves no trailing zeros)
    if integer:
        if number != number.to_integral_value():
            raise Invalid("a whole number")
        if abs(number) >= BIGINT:
            raise Invalid("a whole number between -9.2e18 and 9.2e18")
        return int(number)
    if number == number.to_integral_value():
        return Decimal(int(number))  # 1E+2 -> 100, -0 -> 0; exact at any size (1E+30 has 31 digits)
    return number


def excel_number_text(value: float | int) -> str:
    """How a number cell reads as text: no trailing '.0', no binary noise."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g") if isinstance(value, float) else str(value)


# --- booleans --------------------------------------------------------------------------------------------


def parse_boolean(text: str) -> bool:
    word = text.casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise Invalid(BOOLEAN_EXPECTED)


# --- dates and times -------------------------------------------------------------------------------------


def _date(y: int, m: int, d: int, text: str) -> dt.date:
    try:
        return dt.date(y, m, d)
    except ValueError:
        if 1 <= d <= 12 < m <= 31:
            raise Invalid(f"{DATE_EXPECTED}, day first ({text!r} looks month first)") from None
        raise Invalid(f"{DATE_EXPECTED} (a real calendar date)") from None


def from_serial(serial: float, epoch: dt.datetime = EXCEL_EPOCH) -> dt.datetime:
    """An Excel serial day number as a naive datetime, within the range a real date column uses."""
    if not SERIAL_RANGE[0] <= serial <= SERIAL_RANGE[1]:
        raise Invalid(
            f"{DATE_EXPECTED} (an Excel day number between {SERIAL_RANGE[0]} and {SERIAL_RANGE[1]})"
        )
    moment = epoch + dt.timedelta(days=serial)
    return moment.replace(microsecond=0) if moment.microsecond in (0, 999999) else moment


def _strptime(text: str, formats: list[str]) -> dt.datetime | None:
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def parse_date(text: str, *, formats: list[str] | None = None, epoch: dt.datetime = EXCEL_EPOCH) -> dt.date:
    """A cleaned, non-missing cell as a date: day-first, ISO, 'ngày 3 tháng 4 năm 2024' or an Excel serial."""
    if formats and (found := _strptime(text, formats)):
        return found.date()
    if m := _ISO_DATE.match(text):
        return _date(int(m["y"]), int(m["m"]), int(m["d"]), text)
    if m := _DAY_FIRST.match(text) or _LONG_DATE.match(text.casefold()):
        if len(m["y"]) != 4:
            raise Invalid(f"{DATE_EXPECTED}, with a four-digit year")
        return _date(int(m["y"]), int(m["m"]), int(m["d"]), text)
    if text.isdigit():
        moment = from_serial(int(text), epoch)
        return moment.date()
    raise Invalid(DATE_EXPECTED)


def parse_timestamp(
    text: str, *, formats: list[str] | None = None, epoch: dt.datetime = EXCEL_EPOCH
) -> dt.datetime:
    """A cleaned, non-missing cell as an aware datetime; no zone given means Vietnam time."""
    found = _strptime(text, formats) if formats else None
    if found is None:
        day_part, _, time_part = text.replace("T", " ", 1).partition(" ")
        time_part = time_part.strip()
        try:
            day = parse_date(day_part, epoch=epoch)
        except Invalid:
            if re.fullmatch(r"\d+[.,]\d+", text):
                return from_serial(float(text.replace(",", ".")), epoch).replace(tzinfo=VIETNAM)
            raise Invalid(TIMESTAMP_EXPECTED) from None
        if not time_part:
            return dt.datetime.combine(day, dt.time(), VIETNAM)
        m = _TIME.match(time_part)
        if not m:
            raise Invalid(TIMESTAMP_EXPECTED)
        try:
            clock = dt.time(int(m["h"]), int(m["mi"]), int(m["s"] or 0), int((m["f"] or "0").ljust(6, "0")))
        except ValueError:
            raise Invalid(f"{TIMESTAMP_EXPECTED} (a real time of day)") from None
        zone = VIETNAM
        if m["tz"]:
            zone = dt.UTC if m["tz"] == "Z" else _offset(m["tz"])
        return dt.datetime.combine(day, clock, zone)
    return found if found.tzinfo else found.replace(tzinfo=VIETNAM)


def _offset(text: str) -> dt.timezone:
    digits = text[1:].replace(":", "")
    delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt.timezone(-delta if text[0] == "-" else delta)


# --- one cell for one catalog column ---------------------------------------------------------------------

Cell = str | int | float | bool | dt.date | dt.datetime | dt.time | dt.timedelta


def cell_text(cell: Cell) -> str:
    """A cell as text, the way a person reads it in Excel: kept in quarantine and shown in messages."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, int | float):
        return excel_number_text(cell)
    if isinstance(cell, dt.datetime):
        return cell.isoformat(sep=" ")
    if isinstance(cell, dt.date | dt.time):
        return cell.isoformat()
    return str(cell)


def convert(cell: Cell, column: Column, decimals: Decimals, epoch: dt.datetime = EXCEL_EPOCH) -> object:
    """The value to land for one cell (None when missing), or :class:`Invalid`.

    ``cell`` is text (CSV, or an Excel cell holding text, including numbers stored as text) or a typed
    Excel value. ``decimals`` is the file's running evidence about its decimal separator; it learns from
    every unambiguous number.
    """
    if not isinstance(cell, str):
        return convert_typed(cell, column, epoch)
    return convert_text(clean_text(cell), column, decimals, epoch)


def convert_text(text: str, column: Column, decimals: Decimals, epoch: dt.datetime = EXCEL_EPOCH) -> object:
    """:func:`convert` for a text cell already passed through :func:`clean_text`."""
    if text in MISSING:
        return None
    kind = column.type
    if kind == "text":
        return text
    if kind in ("integer", "numeric"):
        value, revealed = read_number(
            text,
            decimal=decimals.own(column.name),
            guess=decimals.separator(column.name),
            unit=column.unit,
            integer=kind == "integer",
        )
        if revealed:
            decimals.learn(column.name, revealed)
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return parse_boolean(text)
    if kind == "date":
        return parse_date(text, formats=column.formats, epoch=epoch)
    return parse_timestamp(text, formats=column.formats, epoch=epoch)


def convert_typed(cell: Cell, column: Column, epoch: dt.datetime = EXCEL_EPOCH) -> object:
    """:func:`convert` for a typed Excel cell (number, boolean, date)."""
    kind = column.type
    if (cell.__class__ is float or cell.__class__ is int) and (kind == "numeric" or kind == "integer"):
        return number_from_excel(cell, integer=kind == "integer")  # the common cases first
    if cell.__class__ is dt.date and kind == "date":
        return cell
    if kind == "text":
        return cell_text(cell)
    is_number = isinstance(cell, int | float) and not isinstance(cell, bool)
    if kind in ("integer", "numeric"):
        if not is_number:
            raise Invalid("a whole number" if kind == "integer" else "a number")
        return number_from_excel(cell, integer=kind == "integer")
    if kind == "boolean":
        if isinstance(cell, bool):
            return cell
        if is_number and cell in (0, 1):
            return bool(cell)
        raise Invalid(BOOLEAN_EXPECTED)
    if kind == "date":
        if is_number and float(cell).is_integer():
            cell = from_serial(cell, epoch)
        if isinstance(cell, dt.datetime):
            if cell.time() != dt.time():
                raise Invalid(f"{DATE_EXPECTED}, without a time of day")
            return cell.date()
        if isinstance(cell, dt.date):
            return cell
        raise Invalid(DATE_EXPECTED)
    if is_number:
        cell = from_serial(cell, epoch)
    if isinstance(cell, dt.datetime):
        return cell if cell.tzinfo else cell.replace(tzinfo=VIETNAM)
    if isinstance(cell, dt.date):
        return dt.datetime.combine(cell, dt.time(), VIETNAM)
    raise Invalid(TIMESTAMP_EXPECTED)
