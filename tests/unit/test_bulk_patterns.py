"""What the set-based landing lets through unconverted, the row-by-row reader reads to the same value.

kho.landing.bulk sends a value to PostgreSQL as it is when it matches a pattern; anything else makes the file go
row by row. So every value a pattern accepts must be one kho.landing.values reads without doubt, to the value
PostgreSQL will read from the same text.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from kho.catalog import Column
from kho.landing import bulk
from kho.landing.values import VIETNAM, Decimals, Invalid, convert_text


def numbers() -> list[str]:
    """Signs, digit runs and separators in every small combination, the ambiguous ones included."""
    parts = ["", "0", "1", "12", "123", "1234", "01", "0012"]
    tails = ["", ".", ".0", ".5", ".12", ".123", ".1234", ",5", ",123", ".123.456"]
    return [s + p + t for s, p, t in itertools.product(["", "-", "+"], parts, tails) if p + t]


def accepted(pattern: str, values: list[str]) -> list[str]:
    matched = pc.match_substring_regex(pa.array(values), pattern).to_pylist()
    return [v for v, ok in zip(values, matched, strict=True) if ok]


@pytest.mark.parametrize("kind", ["integer", "numeric"])
def test_numbers_sent_unconverted_read_the_same_row_by_row(kind):
    pattern = bulk.INTEGER if kind == "integer" else bulk.UNAMBIGUOUS
    column = Column(name="value", type=kind)
    sent = accepted(pattern, numbers())
    assert "1.234" not in sent and "1,5" not in sent and "12" in sent
    for text in sent:
        value = convert_text(text, column, Decimals())  # no evidence about the separator at all
        assert Decimal(value) == Decimal(text), text


def test_timestamps_sent_unconverted_read_the_same_row_by_row():
    texts = [
        f"2024-03-0{d}{sep}{t}{z}"
        for d, sep, t, z in itertools.product(
            "1",
            [" ", "T"],
            ["", "00:00", "23:59", "24:00", "07:05:09", "07:05:60", "07:05:09.5", "07:05:09.1234567"],
            ["", "Z", "+07:00", "-0530", "+7"],
        )
    ]
    sent = accepted(bulk.ISO_TIMESTAMP, texts)
    assert "2024-03-01 24:00" not in sent and "2024-03-01 07:05:60" not in sent
    for text in sent:
        value = convert_text(text, Column(name="value", type="timestamp"), Decimals())
        day, _, clock = text.replace("T", " ").partition(" ")
        zone = re.search(r"(Z|[+-]\d\d:?\d\d)$", clock)
        if zone:
            clock = clock[: zone.start()]
        expected = dt.datetime.fromisoformat(f"{day} {clock or '00:00'}")
        offset = VIETNAM if not zone else dt.UTC if zone[1] == "Z" else None
        if offset is None:
            sign, digits = zone[1][0], zone[1][1:].replace(":", "")
            delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            offset = dt.timezone(-delta if sign == "-" else delta)
        assert value == expected.replace(tzinfo=offset), text


def test_dates_are_checked_by_arrow_as_strictly_as_iso():
    good = pa.array(["2024-02-29", "1999-12-31", None])
    assert bulk._typed(good, Column(name="value", type="date"), None) is good
    for bad in ["2023-02-29", "2024-2-29", "29/02/2024", " 2024-02-29", "20240229"]:
        with pytest.raises(bulk.FALLBACK_ERRORS):
            bulk._typed(pa.array([bad]), Column(name="value", type="date"), None)


def test_values_to_clean_are_found():
    row = bulk.ROW_NEEDS_CLEANING
    for text in ["a  b", " a", "a ", "a\tb", "a\u00a0b", 'say "x"', "a\u200bb", "a\x01b", "a\nb"]:
        assert accepted(row, [text]) == [text], repr(text)
    assert accepted(row, ["Xã Tân Lý Đông|Thôn 2, Xã Tân Lý Đông"]) == []
    assert accepted(row, ["Xã Tân Lý Đông |Thôn 2"]) == ["Xã Tân Lý Đông |Thôn 2"]


def test_boolean_words_become_postgresql_booleans():
    column = Column(name="value", type="boolean")
    result = bulk._typed(pa.array(["Có", "không", "x", None]), column, None).to_pylist()
    assert result == ["t", "f", "t", None]
    with pytest.raises(bulk.Fallback):
        bulk._typed(pa.array(["có lẽ"]), column, None)
    with pytest.raises(Invalid):
        convert_text("có lẽ", column, Decimals())
