"""Cell text to typed values: Vietnamese and international numbers, dates, booleans, text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from kho.catalog import Column
from kho.landing.values import (
    VIETNAM,
    Ambiguous,
    Decimals,
    Invalid,
    cell_text,
    clean_text,
    convert,
    number_from_excel,
    parse_boolean,
    parse_date,
    parse_number,
    parse_timestamp,
    read_number,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.250.000", "1250000"),
        ("1.234,5", "1234.5"),
        ("1,234.5", "1234.5"),
        ("1234.5", "1234.5"),
        ("1234,5", "1234.5"),
        ("1,5", "1.5"),
        ("0,123", "0.123"),
        ("12.3456", "12.3456"),
        ("1,234,567.89", "1234567.89"),
        ("1 234 567", "1234567"),
        ("1\u00a0234,5", "1234.5"),
        ("-12,5", "-12.5"),
        ("\u221212,5", "-12.5"),
        ("+7", "7"),
        ("(1.234,5)", "-1234.5"),
        ("007", "7"),
        (",5", "0.5"),
        ("1,5E+3", "1.5E+3"),
    ],
)
def test_numbers_in_either_convention(text, value):
    assert parse_number(text) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        ("1.250.000", ","),
        ("1,5", ","),
        ("1.234,5", ","),
        ("1,234.5", "."),
        ("0.5", "."),
        ("1.234", None),
        ("12", None),
    ],
)
def test_what_a_value_reveals_about_the_decimal_separator(text, separator):
    assert read_number(text, integer=separator is None)[1] == separator


def test_three_digits_after_one_separator_is_ambiguous_without_evidence():
    with pytest.raises(Ambiguous) as exc:
        parse_number("1.234")
    assert exc.value.expected == (
        "a number with a clear decimal separator (1.234 could be 1.234 or 1234; "
        "the catalog can declare source.decimal_separator)"
    )


@pytest.mark.parametrize(
    ("text", "decimal", "value"),
    [("1.234", ",", "1234"), ("1.234", ".", "1.234"), ("1,234", ",", "1.234"), ("1,234", ".", "1234")],
)
def test_ambiguous_numbers_follow_the_known_separator(text, decimal, value):
    assert parse_number(text, decimal=decimal) == Decimal(value)
    assert parse_number(text, guess=decimal) == Decimal(value)


def test_a_whole_number_column_reads_ambiguous_values_as_thousands():
    assert parse_number("1.234", integer=True) == 1234
    assert parse_number("12,345", integer=True) == 12345


def test_a_value_contradicting_its_column_is_refused():
    with pytest.raises(Invalid) as exc:
        parse_number("1.5", decimal=",")
    assert (
        exc.value.expected
        == "a number written like the column's other values, with a decimal comma (1.234,5)"
    )
    with pytest.raises(Invalid) as exc:
        parse_number("1,5", decimal=".")
    assert (
        exc.value.expected
        == "a number written like the column's other values, with a decimal point (1,234.5)"
    )


def test_the_files_evidence_settles_ambiguity_but_does_not_bind_other_columns():
    assert parse_number("1.5", guess=",") == Decimal("1.5")


@pytest.mark.parametrize(
    "text", ["1.2.3", "12a", "1.23.456", "1,234.5,6", "abc", "1..2", "1 23", "--5", "1e"]
)
def test_malformed_numbers(text):
    with pytest.raises(Invalid) as exc:
        parse_number(text)
    assert exc.value.expected == "a number like 1.234,5 or 1234.5"


def test_percentages_only_in_percent_columns():
    assert parse_number("12,5%", unit="%") == Decimal("12.5")
    assert parse_number("12.5 %", unit="%") == Decimal("12.5")
    with pytest.raises(Invalid) as exc:
        parse_number("12,5%", unit="ha")
    assert (
        exc.value.expected
        == "a number like 1.234,5 or 1234.5 (a percentage only in a column whose unit is '%')"
    )


def test_whole_numbers():
    assert parse_number("1.250.000", integer=True) == 1250000
    assert parse_number("12,0", integer=True) == 12
    with pytest.raises(Invalid) as exc:
        parse_number("1,5", integer=True)
    assert exc.value.expected == "a whole number like 1.250.000 or 1250000"
    with pytest.raises(Invalid) as exc:
        parse_number("99999999999999999999", integer=True)
    assert exc.value.expected == "a whole number between -9.2e18 and 9.2e18"


def test_excel_numbers_land_as_excel_shows_them():
    assert number_from_excel(0.1 + 0.2) == Decimal("0.3")
    assert number_from_excel(1e20) == Decimal("100000000000000000000")
    assert str(number_from_excel(1e30)) == "1" + "0" * 30  # past the default precision of 28 digits
    assert str(number_from_excel(-0.0)) == "0"
    assert number_from_excel(3.0, integer=True) == 3
    with pytest.raises(Invalid, match="a whole number"):
        number_from_excel(3.5, integer=True)
    with pytest.raises(Invalid, match="a finite number"):
        number_from_excel(float("nan"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("03/04/2024", dt.date(2024, 4, 3)),
        ("3/4/2024", dt.date(2024, 4, 3)),
        ("03-04-2024", dt.date(2024, 4, 3)),
        ("03.04.2024", dt.date(2024, 4, 3)),
        ("2024-04-03", dt.date(2024, 4, 3)),
        ("2024/4/3", dt.date(2024, 4, 3)),
        ("45385", dt.date(2024, 4, 3)),
        ("ngày 3 tháng 4 năm 2024", dt.date(2024, 4, 3)),
        ("Ngày 03 tháng 04 năm 2024", dt.date(2024, 4, 3)),
    ],
)
def test_dates_day_first_iso_serial(text, value):
    assert parse_date(text) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03/04/24", "a date like 31/12/2024 or 2024-12-31, with a four-digit year"),
        ("12/31/2024", "a date like 31/12/2024 or 2024-12-31, day first ('12/31/2024' looks month first)"),
        ("31/02/2024", "a date like 31/12/2024 or 2024-12-31 (a real calendar date)"),
        ("2024", "a date like 31/12/2024 or 2024-12-31 (an Excel day number between 10000 and 80000)"),
        ("hôm qua", "a date like 31/12/2024 or 2024-12-31"),
    ],
)
def test_dates_refused(text, expected):
    with pytest.raises(Invalid) as exc:
        parse_date(text)
    assert exc.value.expected == expected


def test_extra_date_formats_from_the_catalog():
    assert parse_date("04/2024", formats=["%m/%Y"]) == dt.date(2024, 4, 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("03/04/2024 14:30", dt.datetime(2024, 4, 3, 14, 30, tzinfo=VIETNAM)),
        ("2024-04-03T14:30:05", dt.datetime(2024, 4, 3, 14, 30, 5, tzinfo=VIETNAM)),
        ("2024-04-03 14:30:05.25", dt.datetime(2024, 4, 3, 14, 30, 5, 250000, tzinfo=VIETNAM)),
        ("2024-04-03T07:30:00Z", dt.datetime(2024, 4, 3, 7, 30, tzinfo=dt.UTC)),
        ("2024-04-03T14:30:00+07:00", dt.datetime(2024, 4, 3, 14, 30, tzinfo=VIETNAM)),
        ("03/04/2024", dt.datetime(2024, 4, 3, tzinfo=VIETNAM)),
        ("45385.5", dt.datetime(2024, 4, 3, 12, tzinfo=VIETNAM)),
    ],
)
def test_timestamps_are_vietnam_time_unless_zoned(text, value):
    assert parse_timestamp(text) == value


def test_timestamps_refused():
    with pytest.raises(Invalid) as exc:
        parse_timestamp("03/04/2024 25:00")
    assert exc.value.expected == (
        "a date and time like 31/12/2024 14:30 or 2024-12-31T14:30:00+07:00 (a real time of day)"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("có", True), ("Có", True), ("x", True), ("X", True), ("TRUE", True), ("1", True), ("không", False)]
    + [("Không", False), ("false", False), ("0", False), ("co", True), ("khong", False)],
)
def test_booleans(text, value):
    assert parse_boolean(text) is value


def test_booleans_refused():
    with pytest.raises(Invalid) as exc:
        parse_boolean("có thể")
    assert exc.value.expected == "yes or no: có/không, x, true/false or 1/0"


def test_text_is_nfc_trimmed_and_collapsed_but_keeps_formula_signs():
    assert clean_text("  Ha\u0300  Nội\n(cũ)\u200b ") == "Hà Nội (cũ)"
    assert clean_text("=1+2") == "=1+2"
    assert clean_text("@cmd") == "@cmd"


def column(kind: str, **extra) -> Column:
    return Column(name="c_" + kind, type=kind, **extra)


def test_convert_learns_the_columns_separator_from_unambiguous_values():
    decimals = Decimals()
    col = column("numeric")
    with pytest.raises(Ambiguous):
        convert("1.234", col, decimals)
    assert convert("1.234,5", col, decimals) == Decimal("1234.5")
    assert convert("1.234", col, decimals) == Decimal("1234")
    other = Column(name="other", type="numeric")
    assert convert("2.500", other, decimals) == Decimal("2500")  # the file's evidence
    assert convert("2.5", other, decimals) == Decimal("2.5")  # but the column may differ


def test_a_declared_separator_wins():
    decimals = Decimals(declared=".")
    assert convert("1.234", column("numeric"), decimals) == Decimal("1.234")
    with pytest.raises(Invalid):
        convert("1,5", column("numeric"), decimals)


@pytest.mark.parametrize("text", ["", "  ", "-", "..", "...", "…", "–"])
def test_missing_markers_land_as_null(text):
    assert convert(text, column("numeric"), Decimals()) is None
    assert convert(text, column("text"), Decimals()) is None


def test_convert_typed_excel_cells():
    d = Decimals()
    assert convert(12.0, column("integer"), d) == 12
    assert convert(1001.0, column("text"), d) == "1001"
    assert convert(True, column("boolean"), d) is True
    assert convert(1.0, column("boolean"), d) is True
    assert convert(dt.datetime(2024, 4, 3), column("date"), d) == dt.date(2024, 4, 3)
    assert convert(45385.0, column("date"), d) == dt.date(2024, 4, 3)
    assert convert(dt.datetime(2024, 4, 3, 8), column("timestamp"), d) == dt.datetime(
        2024, 4, 3, 8, tzinfo=VIETNAM
    )
    with pytest.raises(Invalid) as exc:
        convert(dt.datetime(2024, 4, 3, 8), column("date"), d)
    assert exc.value.expected == "a date like 31/12/2024 or 2024-12-31, without a time of day"
    with pytest.raises(Invalid, match="^a number$"):
        convert(dt.date(2024, 4, 3), column("numeric"), d)
    with pytest.raises(Invalid):
        convert(dt.time(8, 0), column("date"), d)


def test_cell_text_reads_like_excel():
    assert cell_text(12.0) == "12"
    assert cell_text(0.1 + 0.2) == "0.3"
    assert cell_text(True) == "TRUE"
    assert cell_text(dt.date(2024, 4, 3)) == "2024-04-03"
    assert cell_text(dt.datetime(2024, 4, 3, 8, 30)) == "2024-04-03 08:30:00"
