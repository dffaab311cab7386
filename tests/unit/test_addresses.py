"""Reading the commune and province out of free-text addresses (kho/landing/addresses.py), and the
labelled evaluation set of bench/addresses.py: no wrong code, ever."""

from __future__ import annotations

import pytest

from bench.addresses import evaluation_set, kho_codes, score
from kho.catalog import CatalogError, Dataset, load_catalog
from kho.landing.addresses import parse_address, resolve_key
from kho.landing.areas import check_name

TUYEN_QUANG, CA_MAU, HCM, HA_NOI = "08", "96", "79", "01"


@pytest.mark.parametrize(
    ("address", "scope", "expected"),
    [
        # the case: a province written in the address wins over the platform's
        ("Xã Vĩnh Lợi, Cà Mau", [TUYEN_QUANG], ("out_of_scope", CA_MAU, None)),
        ("Xã Vĩnh Lợi, Cà Mau", [TUYEN_QUANG, CA_MAU], ("matched", CA_MAU, "31900")),
        ("ap 3 xa Vinh Loi tinh Ca Mau", "national", ("matched", CA_MAU, "31900")),
        # no province written: the scope decides; nationally five communes share the name
        ("xã Vĩnh Lợi", [TUYEN_QUANG], ("matched", TUYEN_QUANG, "02548")),
        ("xã Vĩnh Lợi", "national", ("ambiguous", None, None)),
        # abbreviations, house number and street before the commune
        ("12 Nguyễn Trãi, P. Bến Thành, Q.1, TP.HCM", "national", ("matched", HCM, "26743")),
        # a 2024 ward conformed through the crosswalk
        ("Phường Phúc Xá, Quận Ba Đình, Hà Nội", "national", ("matched", HA_NOI, "00097")),
        # a hamlet named like a commune is not the commune
        (
            "thôn Tân Lập, xã Yên Sơn, huyện Yên Sơn, Tuyên Quang",
            [TUYEN_QUANG],
            ("matched", TUYEN_QUANG, "02473"),
        ),
        # a street named like a commune is not the commune either
        ("Số 31 Nguyễn Trãi, Hưng Yên", "national", ("unknown", "33", None)),
        # "Yen Lang" is unknown there: its last word alone ("Láng") is not read as the commune
        ("khu pho Dong Tam, xa Yen Lan, TP. Ha Noi", "national", ("unknown", HA_NOI, None)),
    ],
)
def test_an_address_resolves_within_its_scope(address, scope, expected):
    assert parse_address(address).resolve(scope) == expected


def test_a_typo_is_offered_as_candidates_never_matched():
    match = parse_address("thôn 2, xã Yên Sonn, Tuyên Quang")
    assert match.resolve([TUYEN_QUANG]) == ("unknown", TUYEN_QUANG, None)
    assert "Xã Yên Sơn" in match.hint
    key, reason = check_name("address", "thôn 2, xã Yên Sonn, Tuyên Quang")
    assert reason is not None and "Xã Yên Sơn" in reason and key.startswith(TUYEN_QUANG)


def test_the_landed_key_carries_the_reading_for_dbt():
    key, reason = check_name("address", "Xã Vĩnh Lợi, Cà Mau")
    assert (key, reason) == (f"{CA_MAU} {CA_MAU}:31900", None)
    assert resolve_key(key, [TUYEN_QUANG]) == ("out_of_scope", CA_MAU, None)


def test_the_evaluation_set_gives_no_wrong_code():
    cases = evaluation_set(1500, seed=7)
    result = score(cases, kho_codes(cases))
    assert {c.vintage for c in cases} == {"2024", "2025"}
    assert result["wrong"] == 0, result["wrong_examples"]
    assert result["recall_pct"] > 70


def test_the_catalog_takes_a_scope(tmp_path):
    base = dict(
        id="sites", agency="culture", title_vi="t", title_en="t", description_vi="d", description_en="d",
        classification="open", licence="cc-by-4.0", update_frequency="yearly", source={},
        columns=[{"name": "address", "match": "address"}],
    )  # fmt: skip
    assert Dataset(**base).scope is None
    assert Dataset(**base, scope="national").scope == "national"
    assert Dataset(**base, scope=["08", "96"]).scope == ["08", "96"]
    (tmp_path / "agencies.yml").write_text("agencies: [{id: culture, name_vi: c, name_en: c}]\n")
    (tmp_path / "culture").mkdir()
    (tmp_path / "culture" / "sites.yml").write_text(
        "id: sites\nagency: culture\ntitle_vi: t\ntitle_en: t\ndescription_vi: d\ndescription_en: d\n"
        "classification: open\nlicence: x\nupdate_frequency: yearly\nsource: {}\nscope: [Cà Mau]\n"
        "columns: [{name: address, match: address}]\n"
    )
    with pytest.raises(CatalogError, match="field 'scope'"):
        load_catalog(tmp_path)
