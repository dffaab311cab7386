"""Scope at landing: a province (or the province an address writes) outside the dataset's declared scope is
quarantined with the scope and the province named, never matched to a commune inside the scope; national and
regional rows of a province column are recognised, not unknown."""

from __future__ import annotations

from kho.catalog import Dataset
from kho.landing.areas import check_name, dataset_scope
from kho.landing.land import check_record
from kho.landing.readers.record import Record


def dataset(scope=None, match="address") -> Dataset:
    return Dataset(
        id="sites",
        agency="culture_tourism",
        title_vi="Điểm",
        title_en="Sites",
        description_vi="-",
        description_en="-",
        classification="shared",
        licence="cc-by-4.0",
        update_frequency="yearly",
        source={"kind": "inbox", "format": "csv"},
        columns=[{"name": "site_id", "key": True}, {"name": "place", "match": match}],
        scope=scope,
    )


def test_an_address_in_another_province_is_quarantined_naming_scope_and_province():
    record = Record(7, {}, rows=[{"site_id": "A", "place": "ấp 3, xã Tân Hưng, tỉnh Cà Mau"}])
    column, reason = check_record(dataset(), record)
    assert column == "place"
    assert reason == (
        "expected a place within the dataset's scope (Tỉnh Tuyên Quang (08)), found province Tỉnh Cà Mau (96)"
        " in 'ấp 3, xã Tân Hưng, tỉnh Cà Mau'"
    )


def test_the_same_address_lands_in_a_scope_that_holds_its_province():
    for scope in (["08", "96"], "national"):
        record = Record(7, {}, rows=[{"site_id": "A", "place": "ấp 3, xã Tân Hưng, tỉnh Cà Mau"}])
        assert check_record(dataset(scope), record) is None
        assert record.rows[0]["place_key"].startswith("96 ")


def test_an_address_without_a_province_is_left_to_the_dbt_scope():
    record = Record(7, {}, rows=[{"site_id": "A", "place": "thôn Tân Lập, xã Tân Trào"}])
    assert check_record(dataset(), record) is None


def test_a_province_column_outside_the_scope_is_quarantined_a_merged_one_is_not():
    assert check_name("province", "Cà Mau", ("08",))[1].endswith(
        "found province Tỉnh Cà Mau (96) in 'Cà Mau'"
    )
    assert check_name("province", "Hà Giang", ("08",))[1] is None  # merged into Tuyên Quang in 2025
    assert check_name("province", "Tỉnh Tuyên Quang", ("08",))[1] is None


def test_national_and_regional_rows_of_a_province_column_are_recognised_in_both_languages():
    for name in (
        "Cả nước",
        "Whole country",
        "WHOLE  COUNTRY",
        "Red River Delta",
        "Đồng bằng sông Hồng",
        "Northern midlands and mountain areas",
        "Trung du và miền núi phía Bắc",
        "Mekong River Delta",
        "Đồng bằng sông Cửu Long",
        "Central Highlands",
        "Đông Nam Bộ",
        "North Central and Central coastal areas",
    ):
        assert check_name("province", name, ("08",))[1] is None, name


def test_the_scope_defaults_to_the_platform_province():
    assert dataset_scope(dataset()) == ("08",)
    assert dataset_scope(dataset("national")) is None
    assert dataset_scope(dataset(["08", "96"])) == ("08", "96")
