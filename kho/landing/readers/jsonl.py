"""JSON Lines deliveries: one JSON object per line, as :mod:`kho.delivering.http` writes what an API sent.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from kho.catalog import Column, Dataset
from kho.errors import DeliveryError, Plain, Problem
from kho.landing.readers.record import Issue, Record
from kho.landing.readers.tabular import column_title, header_key, layout
from kho.landing.values import Decimals, Invalid, clean_text, convert_text

MAX_LINE_BYTES = 16 * 1024 * 1024


def read(dataset: Dataset, path: Path, file_name: str) -> Iterator[Record]:
    """Yield one record per non-blank line."""
    ds = dataset.id
    lay = layout(dataset)
    required = [c for c in lay.delivered if c.required]
    delivered = [c.name for c in lay.delivered]  # an optional key left out lands as null
    decimals = Decimals(declared=dataset.source.decimal_separator or ".")
    with path.open("rb") as f:
        line_no = 0
        while line := f.readline(MAX_LINE_BYTES + 1):
            line_no += 1
            if len(line) > MAX_LINE_BYTES:
                raise DeliveryError(
                    Problem(
                        ds,
                        file_name,
                        line_no,
                        None,
                        f"lines under {MAX_LINE_BYTES >> 20} MB",
                        Plain("a longer one"),
                    )
                )
            if line_no == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if not line.strip():
                continue
            obj = _parse(line, ds, file_name, line_no)
            columns = _columns(obj, lay, required, ds, file_name, line_no)
            yield _record(obj, columns, delivered, decimals, line_no)


def _parse(line: bytes, ds: str, file_name: str, line_no: int) -> dict:
    def refused(expected: str, found: str) -> DeliveryError:
        return DeliveryError(Problem(ds, file_name, line_no, None, expected, Plain(found)))

    try:
        obj = json.loads(line.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise refused("UTF-8 text", f"byte 0x{line[exc.start]:02x}") from None
    except json.JSONDecodeError as exc:
        raise refused("one JSON object per line", f"{exc.msg} (column {exc.colno})") from None
    except ValueError as exc:  # NaN, Infinity
        raise refused("one JSON object per line", str(exc)) from None
    if not isinstance(obj, dict):
        raise refused("one JSON object per line", f"a JSON {type(obj).__name__}")
    return obj


def _no_constant(name: str) -> object:
    raise ValueError(f"{name}, which JSON does not allow")


def _columns(
    obj: dict, lay, required: list[Column], ds: str, file_name: str, line_no: int
) -> dict[str, Column]:
    """Key -> catalog column for one record, refusing unknown keys and missing required ones."""
    columns: dict[str, Column] = {}
    unknown = []
    for key in obj:
        k = header_key(key)
        if k in lay.ignored:
            continue
        column = lay.headers.get(k)
        if column is None:
            unknown.append(key)
        elif any(c.name == column.name for c in columns.values()):
            other = next(o for o, c in columns.items() if c.name == column.name)
            raise DeliveryError(
                Problem(
                    ds,
                    file_name,
                    line_no,
                    key,
                    f"each column once ({lay.listing})",
                    Plain(f"keys {other!r} and {key!r}"),
                )
            )
        else:
            columns[key] = column
    if unknown:
        more = f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""
        raise DeliveryError(
            Problem(
                ds,
                file_name,
                line_no,
                unknown[0],
                f"only the catalog's columns ({lay.listing}); a renamed key needs its name in the column's "
                "source_names, a key to leave out in source.ignore_columns",
                Plain(f"a key the catalog does not know{more}"),
            )
        )
    present = {c.name for c in columns.values()}
    missing = [column_title(c) for c in required if c.name not in present]
    if missing:
        raise DeliveryError(
            Problem(
                ds,
                file_name,
                line_no,
                None,
                f"every required key ({lay.listing})",
                Plain(f"no key {', '.join(map(repr, missing))}"),
            )
        )
    return columns


def _record(
    obj: dict, columns: dict[str, Column], delivered: list[str], decimals: Decimals, line_no: int
) -> Record:
    record = Record(line_no, {key: _text(value) for key, value in obj.items()})
    row: dict[str, object] = dict.fromkeys(delivered)
    for key, column in columns.items():
        try:
            row[column.name] = convert_json(obj[key], column, decimals)
        except Invalid as exc:
            record.issues.append(Issue(key, exc.expected, record.raw[key]))
    record.rows.append(row)
    return record


def convert_json(value: object, column: Column, decimals: Decimals) -> object:
    """The value to land for one JSON value (None for null), or :class:`Invalid`."""
    if value is None:
        return None
    if isinstance(value, str):
        return convert_text(clean_text(value), column, decimals)
    kind = column.type
    if isinstance(value, dict | list):
        raise Invalid(
            f"a single value for a {kind} column, not a JSON {'object' if isinstance(value, dict) else 'list'}"
        )
    if isinstance(value, bool):
        if kind == "boolean":
            return value
        if kind == "text":
            return "true" if value else "false"
        raise Invalid(f"a {kind} value, not true/false")
    # a JSON number: int or Decimal
    if kind == "text":
        return _text(value)
    if kind == "numeric":
        return Decimal(value)
    if kind == "integer":
        if value != int(value) or abs(value) >= 2**63:
            raise Invalid("a whole number between -9.2e18 and 9.2e18")
        return int(value)
    if kind == "boolean" and value in (0, 1):
        return bool(value)
    raise Invalid(f"a {kind} value written as text, not a number")


def _text(value: object) -> str:
    """A JSON value as text for the quarantine and messages: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)
