"""Name keys: the hazards are real strings from /work/shared/reference/encoding_hazard_samples.csv."""

from __future__ import annotations

import csv
import unicodedata

import pytest

from kho.landing import names
from kho.landing.names import accent_key, match_key, suggest
from kho.settings import REPO

# Decomposed (non-NFC) tone marks from the sapnhap.bando scrape: raw text and its NFC decoding.
NFD_SAMPLES = [
    (
        "Ph\u01b0\u1eddng Trung Th\xe0nh (tha\u0300nh ph\xf4\u0301 Tha\u0301i Nguy\xean)",
        "Phường Trung Thành (thành phố Thái Nguyên)",
    ),
    ("X\xe3 M\xe2\u0303u S\u01a1n (huy\xea\u0323n Cao L\xf4\u0323c)", "Xã Mẫu Sơn (huyện Cao Lộc)"),
    ("X\xe3 Chi L\u0103ng (huy\xea\u0323n Tra\u0300ng \u0110i\u0323nh)", "Xã Chi Lăng (huyện Tràng Định)"),
    ("X\xe3 Cao S\u01a1n (huy\xea\u0323n \u0110a\u0300 B\u0103\u0301c)", "Xã Cao Sơn (huyện Đà Bắc)"),
    ("X\xe3 T\xe2n Th\xe0nh (huy\xea\u0323n H\u01b0\u0303u Lu\u0303ng)", "Xã Tân Thành (huyện Hữu Lũng)"),
]

# Tone placement: new style (thanglequoc v4.2.0) and old style. Both are NFC.
TONE_SAMPLES = [
    ("Phường Yên Hoà", "Phường Yên Hòa"),
    ("Xã Ứng Hoà", "Xã Ứng Hòa"),
    ("Xã Đàm Thuỷ", "Xã Đàm Thủy"),
    ("Xã Chiêm Hoá", "Xã Chiêm Hóa"),
    ("Xã Định Hoá", "Xã Định Hóa"),
    ("Xã Thanh Thuỷ", "Xã Thanh Thủy"),
]


@pytest.mark.parametrize(("raw", "nfc"), NFD_SAMPLES)
def test_decomposed_text_gets_the_same_keys(raw: str, nfc: str) -> None:
    assert raw != nfc and unicodedata.is_normalized("NFC", nfc)
    assert match_key(raw) == match_key(nfc)
    assert accent_key(raw) == accent_key(nfc)


@pytest.mark.parametrize(("new_style", "old_style"), TONE_SAMPLES)
def test_tone_placement_is_unified(new_style: str, old_style: str) -> None:
    assert unicodedata.is_normalized("NFC", new_style) and new_style != old_style
    assert accent_key(new_style) == accent_key(old_style)
    assert match_key(new_style) == match_key(old_style)


def test_tone_is_not_moved_where_both_styles_agree() -> None:
    assert accent_key("Quý") == "quý"  # qu is a consonant
    assert accent_key("Hoàng") == "hoàng"  # closed syllable: tone on the second vowel in both styles
    assert accent_key("Huế") == "huế"


@pytest.mark.parametrize(
    "names",
    [
        ["Thua Thien-Hue", "Tỉnh Thừa Thiên Huế", "THỪA THIÊN - HUẾ", "Thua  Thien.Hue"],
        [
            "Ho Chi Minh city",
            "Thành phố Hồ Chí Minh",
            "TP. Hồ Chí Minh",
            "Ho Chi Minh City",
            "Thanh pho Ho Chi Minh",
        ],
        ["Hanoi", "Ha Noi", "Thành phố Hà Nội", "Ha Noi City", "Thủ đô Hà Nội"],
        ["Ba Ria - Vung Tau", "Tỉnh Bà Rịa - Vũng Tàu", "Ba Ria-Vung Tau Province"],
        ["Dak Lak", "Tỉnh Đắk Lắk", "Daklak"],
        ["Ba Dinh District", "Quận Ba Đình"],
        ["Phuc Xa Ward", "Phường Phúc Xá"],
        ["Phường 01", "Phường 1", "PHƯỜNG 1"],
    ],
)
def test_spellings_of_one_unit_share_a_match_key(names: list[str]) -> None:
    assert len({match_key(n) for n in names}) == 1, {n: match_key(n) for n in names}


def test_keys_are_compact_ascii() -> None:
    assert match_key("Tỉnh Thừa Thiên Huế") == "thuathienhue"
    assert match_key("WHOLE COUNTRY") == "wholecountry"
    assert match_key("Đồng bằng sông Cửu Long") == "dongbangsongcuulong"
    assert match_key("Thừa\u00adThiên Huế") == "thuathienhue"  # soft hyphen from a legacy conversion


def test_unit_words_that_start_real_names_are_kept() -> None:
    # Unaccented "quan", "tinh", "phuong", "xa" begin real names: only the accented unit words are removed.
    assert match_key("Huyện Quan Sơn") == "quanson"
    assert match_key("Quan Sơn") == "quanson"
    assert match_key("Tịnh Biên") == "tinhbien"
    assert match_key("Phương Mai") == "phuongmai"
    assert match_key("Xã Xà Phìn") == "xaphin"
    assert match_key("Phường") == "phuong"  # a bare unit word is a name, not an empty key


def test_accent_key_separates_what_match_key_merges() -> None:
    assert match_key("Xã Quan Sơn") == match_key("Xã Quán Sơn")
    assert accent_key("Xã Quan Sơn") != accent_key("Xã Quán Sơn")
    assert accent_key("Xã Tịnh Hà") != accent_key("Xã Tĩnh Hà")


def test_suggest_offers_the_nearest_keys() -> None:
    candidates = ["thuathienhue", "hue", "hanoi", "hatay", "hanam"]
    assert suggest(match_key("Thua Thien Hu"), candidates)[0] == "thuathienhue"
    assert suggest("hanoii", candidates, n=1) == ["hanoi"]
    assert suggest("zzzz", candidates) == []


def test_the_quick_paths_agree_with_decomposing_on_every_known_name() -> None:
    """Stripping marks by lookup, and leaving alone a word that cannot have its tone moved, give what
    decomposing every word gives, on every name and alias of Kho's reference, in both tone styles."""
    seeds = REPO / "dbt_project" / "seeds" / "reference"
    texts = set()
    for seed in ("ref_commune_aliases.csv", "ref_area_aliases.csv", "ref_admin_units_2025.csv"):
        with (seeds / seed).open(encoding="utf-8", newline="") as f:
            texts.update(value for row in csv.reader(f) for value in row)
    words = {w for text in texts for w in names._NON_WORD.split(text.casefold()) if w}
    # every tone on every open oa / oe / uy, in both styles (hòa, hoà; khỏe, khoẻ; thụy, thuỵ...), or
    # none, after a syllable with a tone of its own or none (words run together when soft hyphens go)
    for tone in ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"):
        for first, second in ("oa", "oe", "uy"):
            for onset in ("h", "kh", "th", "q", ""):
                for before in ("", "xã", "lạc", "mai"):
                    for word in (onset + first + tone + second, onset + first + second + tone):
                        words.add(unicodedata.normalize("NFC", before + word))
    ordered = sorted(words)
    words |= {a + b for a, b in zip(ordered, ordered[1:], strict=False)}  # run together (soft hyphens gone)
    assert len(words) > 10000
    for word in sorted(words):
        assert names._strip_diacritics(word) == names._strip_diacritics_slowly(word), word
        assert names._unify_tone(word) == names._unify_tone_slowly(word), word
