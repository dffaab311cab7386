"""Scope at landing: a province (or the province an address writes) outside the dataset's declared scope is
quarantined with the scope and the province named, never matched to a commune inside the scope; national and
regional rows of a province column are recognised, not unknown."""

from __future__ import annotations

import csv

from kho.catalog import Dataset
from kho.landing.areas import COMMUNE_ALIASES, check_name, dataset_scope, usual_names
from kho.landing.land import check_record
from kho.landing.names import match_key
from kho.landing.readers.record import Record


def commune_aliases() -> list[dict[str, str]]:
    with COMMUNE_ALIASES.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


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


def test_the_names_learnt_ahead_are_known_the_scopes_communes_first_each_once():
    """What a landing learns while the file is hashed: names the reference writes, every one known, the
    communes of the dataset's provinces before the others."""
    for scope in (("08",), ("96", "01"), None):
        usual = usual_names("commune", scope)
        assert len(usual) == len(set(usual)) > 3000
        assert all(check_name("commune", name, scope) == (match_key(name), None) for name in usual)
        if scope:
            ours = {r["commune_name"] or r["alias"] for r in commune_aliases() if r["province_code"] in scope}
            assert set(usual[: len(ours)]) == ours
    assert usual_names("address", None) == ()
    provinces = usual_names("province", ("08",))
    assert {"Tuyên Quang", "Cà Mau", "Cả nước"} <= set(provinces)


def test_only_names_that_land_as_they_are_are_learnt_ahead():
    """A province outside the dataset's scope is quarantined when a delivery brings it, so it is not learnt
    ahead as a name that lands."""
    from kho.landing.bulk import _Names

    known = _Names("province", ("08",))
    known.learn_usual(lambda: False)  # never done: every usual name is offered
    assert "Tuyên Quang" in known.names and "Cả nước" in known.names
    assert "Cà Mau" not in known.names and not known.any_unknown
