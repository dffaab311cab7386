"""PX-Web exports as statistics offices really write them: spacing and case variants, the abbreviations for
preliminary and estimated years, measures and units declared by the table, and national and regional rows in
English or Vietnamese. Each sample in tests/data/pxweb/ is read and checked as landing checks it."""

from __future__ import annotations

import pytest

from kho.catalog import catalog
from kho.errors import DeliveryError
from kho.landing.land import check_record
from kho.landing.readers.pxweb import parse_title, parse_years, read
from kho.settings import REPO

DATA = REPO / "tests" / "data" / "pxweb"
DS = catalog().dataset("crop_statistics")


def records(name: str):
    found = list(read(DS, DATA / name, name))
    assert all(not r.issues for r in found), [r.issues for r in found]
    return found


def quarantined(found) -> list[tuple[str, str]]:
    return [problem for r in found if (problem := check_record(DS, r)) is not None]


def test_doubled_and_non_breaking_spaces_and_upper_case_are_read():
    found = records("production_paddy_spacing.csv")
    row = found[0].rows[0]
    assert (row["measure"], row["crop"], row["season"], row["unit"]) == (
        "production",
        "paddy",
        "whole_year",
        "thousand tonnes",
    )
    assert row["table_title"] == "PRODUCTION OF PADDY BY PROVINCE by Cities, provincies and Year"
    assert [(r["year"], r["is_preliminary"]) for r in found[0].rows] == [
        (2014, False),
        (2015, False),
        (2016, True),
    ]
    assert [r.rows[0]["area_name"] for r in found] == [
        "WHOLE COUNTRY",
        "Northern midlands and mountain areas",
        "Ha Giang",
        "Tuyen Quang",
    ]
    assert quarantined(found) == []


def test_every_preliminary_and_estimate_mark_is_read_as_preliminary():
    found = records("planted_area_maize_year_marks.csv")
    assert [(r["year"], r["is_preliminary"]) for r in found[0].rows] == [
        (2012, False),
        (2013, True),
        (2014, True),
        (2015, True),
        (2016, True),
        (2017, True),
        (2018, True),
    ]
    assert quarantined(found) == []


@pytest.mark.parametrize(
    "label",
    [
        "Sơ bộ 2016",
        "Sb 2016",
        "SB2016",
        "Prel. 2016",
        "Ước tính 2016",
        "Ước 2016",
        "2016 (sơ bộ)",
        "Est. 2016",
    ],
)
def test_year_marks(label):
    assert parse_years(["area", label], "crop_statistics", "t.csv") == [(2016, True)]


def test_a_year_that_is_not_one_is_still_refused_with_its_line_and_column():
    with pytest.raises(DeliveryError) as exc:
        parse_years(["area", "2015", "Sơ bộ"], "crop_statistics", "t.csv")
    assert "line 3, column 'Sơ bộ': expected a year such as '2015', 'Prel. 2016' or 'Sơ bộ 2016'" in str(
        exc.value
    )


def test_a_new_measure_declared_in_a_vietnamese_title_lands_as_data_with_its_unit():
    found = records("san_luong_lua_binh_quan_dau_nguoi.csv")
    row = found[0].rows[0]
    assert (row["measure"], row["unit"], row["crop"], row["season"]) == (
        "san_luong_binh_quan_dau_nguoi",
        "kg/người",
        "paddy",
        "whole_year",
    )
    assert [r.rows[-1]["is_preliminary"] for r in found] == [True] * 6
    assert quarantined(found) == []  # Cả nước, the regions in Vietnamese, two provinces


def test_a_new_measure_declared_in_an_english_title_lands_with_the_six_regions_in_english():
    found = records("production_per_capita_paddy.csv")
    row = found[0].rows[0]
    assert (row["measure"], row["unit"]) == ("production_per_capita", "kg/person")
    assert len(found) == 7
    assert quarantined(found) == []


def test_a_new_measure_without_its_unit_is_refused():
    with pytest.raises(DeliveryError) as exc:
        parse_title("Production per capita of paddy by province", "crop_statistics", "t.csv")
    assert "line 1: expected a PX-Web title '<measure> [(unit)] of <crop> by province" in str(exc.value)


def test_a_known_measure_keeps_the_unit_its_table_declares():
    table = parse_title("Production (thousand tonnes) of maize by province", "crop_statistics", "t.csv")
    assert (table.measure, table.unit) == ("production", "thousand tonnes")
