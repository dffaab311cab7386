"""The committed reference seeds: counts, key uniqueness, and keys in step with kho.landing.names."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from kho.landing.names import match_key

SEEDS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "reference"


def read(name: str) -> list[dict[str, str]]:
    with (SEEDS / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def aliases() -> list[dict[str, str]]:
    return read("ref_area_aliases")


def test_unit_counts() -> None:
    units_2024 = Counter(u["level"] for u in read("ref_admin_units_2024"))
    units_2025 = Counter(u["level"] for u in read("ref_admin_units_2025"))
    assert units_2024 == {"province": 63, "district": 696, "commune": 10035}
    assert units_2025 == {"province": 34, "commune": 3321}


def test_codes_are_zero_padded_text() -> None:
    widths = {"province": 2, "district": 3, "commune": 5}
    for name in ("ref_admin_units_2024", "ref_admin_units_2025"):
        for u in read(name):
            assert len(u["code"]) == widths[u["level"]] and u["code"].isdigit(), u


def test_crosswalk_covers_every_2024_province_and_commune() -> None:
    old = {c["old_code"] for c in read("ref_admin_crosswalk_2025")}
    units = read("ref_admin_units_2024")
    assert {u["code"] for u in units if u["level"] in ("province", "commune")} <= old
    assert old <= {u["code"] for u in units}


def test_regions_hold_each_2024_province_once() -> None:
    regions = read("ref_regions")
    provinces = {u["code"] for u in read("ref_admin_units_2024") if u["level"] == "province"}
    assert sorted(r["province_code"] for r in regions) == sorted(provinces)
    assert len({r["region_code"] for r in regions}) == 6


def test_alias_keys_are_unique(aliases: list[dict[str, str]]) -> None:
    keys = Counter(a["area_key"] for a in aliases)
    assert [k for k, n in keys.items() if n > 1] == []


def test_alias_keys_are_reproduced_by_match_key(aliases: list[dict[str, str]]) -> None:
    stale = [
        (a["alias"], a["area_key"], match_key(a["alias"]))
        for a in aliases
        if match_key(a["alias"]) != a["area_key"]
    ]
    assert stale == [], "kho.landing.names changed: rerun scripts/build_reference.py"


def test_aliases_cover_every_province_and_the_delivered_spellings(aliases: list[dict[str, str]]) -> None:
    by_key = {a["area_key"]: a for a in aliases}
    provinces = read("ref_admin_units_2024")
    for p in (p for p in provinces if p["level"] == "province"):
        for name in (p["name"], p["short_name"]):
            assert by_key[match_key(name)]["area_code"] == p["code"], name
    delivered = {
        "WHOLE COUNTRY": ("country", "VN", ""),
        "Red River Delta": ("region", "RRD", ""),
        "Northern midlands and mountain areas": ("region", "NMM", ""),
        "North Central and Central coastal areas": ("region", "NCC", ""),
        "Central Highlands": ("region", "CHL", ""),
        "South East": ("region", "SE", ""),
        "Mekong River Delta": ("region", "MRD", ""),
        "Ha Noi": ("province", "01", "01"),
        "Ha Tay": ("province", "28", "01"),
        "Thua Thien-Hue": ("province", "46", "46"),
        "Ho Chi Minh city": ("province", "79", "79"),
        "Ba Ria - Vung Tau": ("province", "77", "79"),
        "Dak Lak": ("province", "66", "66"),
    }
    for name, expected in delivered.items():
        a = by_key[match_key(name)]
        assert (a["area_level"], a["area_code"], a["area_code_2025"]) == expected, name
