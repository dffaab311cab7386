"""The PX-Web reader on the bundled samples and on malformed exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from kho.catalog import catalog
from kho.errors import DeliveryError
from kho.landing.readers.pxweb import parse_title, read
from kho.settings import REPO

SAMPLES = REPO / "samples" / "crop_statistics"
DS = catalog().dataset("crop_statistics")
HEADER = '"Cities, provincies";"2014";"2015";"Prel. 2016"'


def pxweb(
    tmp_path: Path,
    body: str,
    title: str = "Production of maize by province by Cities, provincies and Year",
    name: str = "t.csv",
) -> Path:
    path = tmp_path / name
    text = f'"{title}"\r\n\r\n{HEADER}\r\n{body}'
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("title", "measure", "crop", "season", "unit"),
    [
        (
            "Production of maize by province by Cities, provincies and Year",
            "production",
            "maize",
            "whole_year",
            "thousand tonnes",
        ),
        ("Planted area of spring paddy by province", "planted_area", "paddy", "spring", "thousand ha"),
        ("Yield of winter paddy by province", "yield", "paddy", "winter", "quintals/ha"),
        (
            "Planted area of sweet potatoes by province",
            "planted_area",
            "sweet_potatoes",
            "whole_year",
            "thousand ha",
        ),
        ("PRODUCTION OF CEREALS BY PROVINCE", "production", "cereals", "whole_year", "thousand tonnes"),
    ],
)
def test_titles_give_measure_crop_season_and_unit(title, measure, crop, season, unit):
    table = parse_title(title, "crop_statistics", "f.csv")
    assert (table.measure, table.crop, table.season, table.unit) == (measure, crop, season, unit)


def test_per_capita_table_is_refused_by_name():
    with pytest.raises(DeliveryError) as exc:
        parse_title("Production of cereals per capita by province", "crop_statistics", "percap.csv")
    message = str(exc.value)
    assert message.startswith("crop_statistics: percap.csv, line 1: expected a PX-Web title")
    assert "found 'Production of cereals per capita by province'" in message


def test_sample_files_read_completely():
    for path in sorted(SAMPLES.glob("*.csv")):
        records = list(read(DS, path, path.name))
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        assert len(records) == len(lines) - 3, path.name  # title, blank, header
        assert all(not r.issues for r in records)
        years = {row["year"] for r in records for row in r.rows}
        assert years == set(range(1995, 2017))
        prel = {row["year"] for r in records for row in r.rows if row["is_preliminary"]}
        assert prel == {2016}


def test_missing_values_become_null_and_names_are_trimmed(tmp_path):
    path = pxweb(tmp_path, '" WHOLE COUNTRY";5.1;..;6.0\r\n"Ha Tay";1.0;..;..\r\n')
    records = list(read(DS, path, "t.csv"))
    assert [r.source_row for r in records] == [4, 5]
    assert records[0].rows[0]["area_name"] == "WHOLE COUNTRY"
    assert [row["value"] for row in records[1].rows] == ["1.0", None, None]
    assert [row["is_preliminary"] for row in records[1].rows] == [False, False, True]


def test_text_in_a_number_column_names_line_column_and_value(tmp_path):
    path = pxweb(tmp_path, '"Ha Noi";5.1;12,3;6.0\r\n')
    (record,) = read(DS, path, "t.csv")
    (issue,) = record.issues
    assert (record.source_row, issue.column, issue.found) == (4, "2015", "12,3")
    assert "number" in issue.expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "line 1: expected a PX-Web export (title on line 1), found an empty file"),
        (
            b"province,year,value\r\nHa Noi,2015,3\r\n",
            "line 1: expected a PX-Web export: a quoted title alone",
        ),
        (
            b'"Production of maize by province"\r\n\r\n"Cities, provincies";"2015";"next"\r\n"Ha Noi";1\r\n',
            "line 3, column 'next': expected a year such as '2015', 'Prel. 2016' or 'Sơ bộ 2016', found 'next'",
        ),
        (
            b'"Production of maize by province"\r\n\r\n"Cities, provincies";"2015"\r\n',
            "line 4: expected at least one area row after the header, found none",
        ),
        (
            '"Production of maize by province"\r\n\r\n"Cities, provincies";"2015"\r\n"Hà Nam";1\r\n'.encode(
                "cp1258"
            ),
            "line 4: expected UTF-8 text, found byte 0xe0",
        ),
    ],
)
def test_malformed_exports_are_refused_with_a_located_message(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DeliveryError) as exc:
        list(read(DS, path, "bad.csv"))
    assert str(exc.value).startswith("crop_statistics: bad.csv, ")
    assert expected in str(exc.value)
