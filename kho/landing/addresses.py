"""Reading the commune and province out of a Vietnamese free-text address, as agencies write it.

"Số 12 Nguyễn Trãi, P. Bến Thành, Q.1, TP.HCM", "ấp 3 xa Vinh Loi tinh Ca Mau", "thôn Tân Lập, xã Yên
Sơn, huyện Yên Sơn, Tuyên Quang": the address is read from its end, one administrative level at a time
(province, then, before July 2025, district, then commune), each level the longest run of words that
names a unit of that level within what the levels to its right allow. Unit words (tỉnh, huyện, xã, X.,
P., TT., Tp., H., Q. ...) are optional and, when written, decide the level; house numbers, streets and
hamlets before the commune are never read as a commune (a hamlet word or a number stops the run).

Both lists are searched: a commune of the 2024 list (written with its district or not) stands for the
2025 commune it went into whole (the crosswalk); one that was split among several stands for no code.
The result is every unit the address can mean (:class:`AddressMatch`); a code is given only when exactly
one 2025 commune is left within the dataset's scope (:meth:`AddressMatch.resolve`), never a guess. An
address that names no commune at all comes back with the one-edit spellings of the words where its
commune should be, as candidates for a data steward, not as a match.

The landed key (:meth:`AddressMatch.key`) carries the whole reading, so that dbt applies each dataset's
scope (macros/match_addresses.sql) with no Python: ``"<province written or *> <province>:<commune> ..."``.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache, lru_cache

from kho.landing.names import accent_key, match_key
from kho.settings import REPO

SEEDS = REPO / "dbt_project" / "seeds" / "reference"
NATIONAL = "national"
ANY_PROVINCE = "*"

# Unit words, unaccented as match_key writes them, by the level they announce ("thanh pho" is either a
# province or a district-level city).
_UNIT_WORDS: dict[tuple[str, ...], frozenset[str]] = {
    tuple(words.split()): frozenset(levels.split())
    for words, levels in {
        "tinh": "province",
        "thu do": "province",
        "thanh pho": "province district",
        "tp": "province district",
        "huyen": "district",
        "quan": "district",
        "thi xa": "district",
        "h": "district",
        "q": "district",
        "tx": "district",
        "xa": "commune",
        "phuong": "commune",
        "thi tran": "commune",
        "dac khu": "commune",
        "x": "commune",
        "p": "commune",
        "tt": "commune",
    }.items()
}
_UNIT_ACCENTED = frozenset(
    "tỉnh, thủ đô, thành phố, huyện, quận, thị xã, xã, phường, thị trấn, đặc khu".split(", ")
)
# The unit type a commune-level unit word means (to tell "Phường X" from "Xã X").
_COMMUNE_TYPES = {
    "xa": "xã",
    "x": "xã",
    "phuong": "phường",
    "p": "phường",
    "thi tran": "thị trấn",
    "tt": "thị trấn",
}
_COMMUNE_TYPES["dac khu"] = "đặc khu"
# Words that start what lies inside a commune (hamlet, street, house number): the run stops there.
_INSIDE_WORDS = frozenset(
    "ap thon ban xom to khu khom duong pho so ngo hem kiet lang buon soc tdp kp khupho sn".split()
)
_COUNTRY = (("viet", "nam"), ("vietnam",), ("vn",))
_MAX_WORDS = 6  # the longest unit name has five words ("Thừa Thiên Huế" once had its "Tỉnh" too)
_SPLIT = re.compile(r"[,;|\n]+")  # not " - ": "Bà Rịa - Vũng Tàu" is one name
_DASH = re.compile(r"\s[-–]\s")
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Unit:
    """One unit of a reference list: its 2025 province, and the 2025 commune it went into (None: split)."""

    level: str
    vintage: str
    code: str
    name: str
    province_2025: str
    code_2025: str | None
    district: str | None = None  # 2024 communes: the district they belonged to
    unit_type: str = ""


@dataclass
class AddressMatch:
    """Every unit an address can mean, before the dataset's scope is applied."""

    text: str
    province_written: str | None = None  # 2025 code of a province the address names
    communes: list[Unit] = field(default_factory=list)
    hint: list[str] = field(default_factory=list)  # one-edit spellings, when no commune is named

    def key(self) -> str:
        """The landed form: ``"<province written or *> <province>:<commune 2025 or empty> ..."``."""
        pairs = sorted({f"{u.province_2025}:{u.code_2025 or ''}" for u in self.communes})
        return " ".join([self.province_written or ANY_PROVINCE, *pairs])

    def resolve(self, scope: list[str] | str | None) -> tuple[str, str | None, str | None]:
        """(status, province code 2025, commune code 2025) within ``scope`` (province codes or national).

        A province written in the address wins over the scope; when it lies outside, the status is
        out_of_scope. A commune code only when exactly one 2025 commune is left.
        """
        return resolve_key(self.key(), scope)


def resolve_key(key: str, scope: list[str] | str | None) -> tuple[str, str | None, str | None]:
    """What macros/match_addresses.sql computes from the landed key, in Python (same rules)."""
    written, *pairs = key.split(" ")
    national = scope is None or scope == NATIONAL
    allowed = None if national else set([scope] if isinstance(scope, str) else scope)
    if written != ANY_PROVINCE and allowed is not None and written not in allowed:
        return "out_of_scope", written, None
    candidates = [p.split(":") for p in pairs]
    if written == ANY_PROVINCE and allowed is not None:
        candidates = [(p, c) for p, c in candidates if p in allowed]
    provinces = {p for p, _ in candidates}
    province = (
        written if written != ANY_PROVINCE else (next(iter(provinces)) if len(provinces) == 1 else None)
    )
    if not candidates:
        return "unknown", province, None
    codes = {c for _, c in candidates}
    if len(codes) == 1 and "" not in codes:
        return "matched", province, codes.pop()
    return ("split" if codes == {""} else "ambiguous"), province, None


# --- reference lists -------------------------------------------------------------------------------


def _rows(name: str) -> list[dict[str, str]]:
    with (SEEDS / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@dataclass
class _Reference:
    provinces: dict[str, set[str]]  # match key -> 2025 province codes
    districts: dict[str, list[Unit]]  # match key -> 2024 districts
    communes: dict[str, list[Unit]]  # match key -> communes of both lists
    commune_keys_by_province: dict[str, set[str]]
    word_pairs: set[tuple[str, str]]  # two neighbouring words of some unit's name, unaccented


@cache
def reference() -> _Reference:
    """The two lists and the crosswalk, keyed by name (read once per process)."""
    crosswalk: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in _rows("ref_admin_crosswalk_2025.csv"):
        crosswalk[row["level"], row["old_code"]].add(row["new_code"])
    province_2025 = {old: next(iter(new)) for (level, old), new in crosswalk.items() if level == "province"}

    provinces: dict[str, set[str]] = defaultdict(set)
    for row in _rows("ref_area_aliases.csv"):
        if row["area_level"] == "province" and row["area_code_2025"]:
            provinces[row["area_key"]].add(row["area_code_2025"])
    districts: dict[str, list[Unit]] = defaultdict(list)
    communes: dict[str, list[Unit]] = defaultdict(list)
    for row in _rows("ref_admin_units_2024.csv"):
        p25 = province_2025.get(row["province_code"], row["province_code"])
        if row["level"] == "province":
            provinces[match_key(row["name"])].add(p25)
        elif row["level"] == "district":
            districts[match_key(row["name"])].append(
                Unit("district", "2024", row["code"], row["name"], p25, None, row["code"], row["unit_type"])
            )
        else:
            new = crosswalk.get(("commune", row["code"]), set())
            unit = Unit(
                "commune", "2024", row["code"], row["name"], p25,
                next(iter(new)) if len(new) == 1 else None, row["parent_code"], row["unit_type"],
            )  # fmt: skip
            communes[match_key(row["name"])].append(unit)
    for row in _rows("ref_admin_units_2025.csv"):
        if row["level"] == "province":
            provinces[match_key(row["name"])].add(row["code"])
        else:
            unit = Unit(
                "commune",
                "2025",
                row["code"],
                row["name"],
                row["province_code"],
                row["code"],
                None,
                row["unit_type"],
            )
            communes[match_key(row["name"])].append(unit)
    by_province: dict[str, set[str]] = defaultdict(set)
    for key, units in communes.items():
        for u in units:
            by_province[u.province_2025].add(key)
    pairs = set()
    for units in [*communes.values(), *districts.values()]:
        for u in units:
            name = [match_key(w) or w.casefold() for w in _WORD.findall(u.name)]
            pairs.update(zip(name, name[1:], strict=False))
    return _Reference(dict(provinces), dict(districts), dict(communes), dict(by_province), pairs)


# --- reading an address ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Word:
    key: str  # unaccented, casefolded (as match_key)
    accented: str  # casefolded, accents kept
    segment: int  # comma-separated part of the address it is in
    part: int  # part separated by commas or " - "


def _words(text: str) -> list[_Word]:
    text = unicodedata.normalize("NFC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    out = []
    parts = 0
    for i, segment in enumerate(_SPLIT.split(text)):
        for piece in _DASH.split(segment):
            parts += 1
            for w in _WORD.findall(piece):
                key = match_key(w) or w.casefold()
                key = str(int(key)) if key.isdigit() else key
                out.append(_Word(key, w.casefold(), i, parts))
    return out


def _unit_word(words: list[_Word]) -> tuple[str, ...] | None:
    """The unit word ``words`` are, if any: accented as the unit word is, or written without accents."""
    key = tuple(w.key for w in words)
    if key not in _UNIT_WORDS:
        return None
    accented = " ".join(w.accented for w in words)
    if accented == " ".join(key) or accented in _UNIT_ACCENTED:
        return key
    return None  # "xá" is not "xã", "quan" may be, "quán" is not


def _unit_word_before(words: list[_Word], start: int) -> tuple[int, tuple[str, ...] | None]:
    """The unit word just before ``words[start]`` (in the same part): (its start, its words) or none."""
    for size in (2, 1):
        i = start - size
        if i >= 0 and all(w.part == words[start].part for w in words[i:start]):
            found = _unit_word(words[i:start])
            if found and not _inside_a_name(words, i):
                return i, found
    return start, None


def _inside_a_name(words: list[_Word], i: int) -> bool:
    """True when an unaccented unit word at ``words[i]`` ends a pair of words some unit's name has
    ("Yen Phuong": Yên Phương, not "Yên, phường ...")."""
    if i == 0 or words[i - 1].part != words[i].part or words[i].accented != words[i].key:
        return False
    return (words[i - 1].key, words[i].key) in reference().word_pairs


def _runs(words: list[_Word], end: int):
    """(start, key) of the runs of words ending just before ``end``, longest first, within one segment."""
    for size in range(min(_MAX_WORDS, end), 0, -1):
        start = end - size
        if words[start].segment != words[end - 1].segment:
            continue
        if any(w.key in _INSIDE_WORDS for w in words[start + 1 : end]):
            continue  # "Bản Thi" is a commune, "Đồng Tâm Bản Thi" is not
        yield start, "".join(w.key for w in words[start:end])


def _level_ok(unit_word: tuple[str, ...] | None, level: str) -> bool:
    return unit_word is None or level in _UNIT_WORDS[unit_word]


def _find(words, end, level, known, whole=False) -> tuple[int, list, tuple[str, ...] | None, int] | None:
    """The longest run ending at ``end`` naming something of ``level`` that ``known`` accepts.

    ``whole``: the run starts its part or follows a unit word ("xa Yen Lang" is not "Láng").
    """
    for start, key in _runs(words, end):
        if whole and start > 0 and words[start - 1].part == words[start].part:
            if _unit_word_before(words, start)[1] is None:
                continue
        if key.isdigit() and _unit_word_before(words, start)[1] is None:
            continue  # a bare number is a house number, not "Phường 1" or "Quận 3"
        found = known(key)
        if not found:
            continue
        before, unit_word = _unit_word_before(words, start)
        if not _level_ok(unit_word, level):
            continue
        if unit_word is None and any(
            w.part == words[start].part and (w.key in _INSIDE_WORDS or w.key.isdigit()) for w in words[:start]
        ):
            continue  # "thôn Tân Lập", "Số 12 Quang Trung": a hamlet or street named like a unit
        return start, found, unit_word, before
    return None


def _skip_country(words: list[_Word], end: int) -> int:
    for country in _COUNTRY:
        n = len(country)
        if end >= n and tuple(w.key for w in words[end - n : end]) == country:
            return end - n
    return end


@lru_cache(maxsize=1 << 15)
def parse_address(text: str) -> AddressMatch:
    """Every unit ``text`` can mean: the province it names, and its commune's candidates (both lists)."""
    ref = reference()
    words = _words(text)
    result = AddressMatch(text)
    end = _skip_country(words, len(words))
    if end == 0:
        return result

    provinces: set[str] | None = None
    found = _find(words, end, "province", lambda k: ref.provinces.get(k))
    if found:
        start, codes, unit_word, before = found
        # "Cà Mau" at the end is the province; "TP. Cà Mau" may be the district-level city before it
        if len(codes) == 1:
            provinces = set(codes)
            result.province_written = next(iter(codes))
            end = before

    districts: list[Unit] | None = None
    if end:
        found = _find(
            words, end, "district",
            lambda k: [d for d in ref.districts.get(k, ()) if provinces is None or d.province_2025 in provinces],
        )  # fmt: skip
        if found:
            start, districts, unit_word, before = found
            # a commune may carry a district's name ("Xã Yên Sơn, huyện Yên Sơn"): the district only
            # when a commune is named before it, else read the same words as the commune
            rest = _commune(words, before, ref, provinces, {d.code for d in districts})
            if rest is not None:
                result.communes = rest
                return result
            separate = start == 0 or words[start - 1].segment != words[start].segment
            if unit_word is not None or not separate or not _only_inside(words[:start]):
                # "X. Thin Trung, Cái Bè": a commune is written there but not known (a typo)
                result.hint = _hint(words, before, ref, provinces)
                return result
    if end:
        communes = _commune(words, end, ref, provinces, None)
        if communes is not None:
            result.communes = communes
            return result
        result.hint = _hint(words, end, ref, provinces)
    return result


def _commune(words, end, ref, provinces, districts) -> list[Unit] | None:
    def known(key: str) -> list[Unit]:
        units = [u for u in ref.communes.get(key, ()) if provinces is None or u.province_2025 in provinces]
        if districts is not None:
            old = [u for u in units if u.district in districts]
            # a district written: the commune is of the 2024 list if one there has the name
            units = old or [
                u for u in units if u.vintage == "2025" and u.province_2025 in _of(ref, districts)
            ]
        return units

    found = _find(words, end, "commune", known, whole=True)
    if not found or end == 0:
        return None
    start, units, unit_word, _ = found
    # Told apart by what the address writes beyond the key: the unit type, then the accents.
    kind = _COMMUNE_TYPES.get(" ".join(unit_word)) if unit_word else None
    typed = [u for u in units if u.unit_type.casefold() == kind]
    units = typed or units
    written = " ".join(w.accented for w in words[start:end])
    if written != " ".join(w.key for w in words[start:end]):  # the address has accents
        accented = [u for u in units if accent_key(u.name) == accent_key(written)]
        units = accented or units
    return units


def _only_inside(words: list[_Word]) -> bool:
    """True when ``words`` hold no commune: nothing, or only parts starting with a hamlet, street or number,
    with no commune unit word among them."""
    if any(_unit_word([w]) and "commune" in _UNIT_WORDS[(w.key,)] for w in words):
        return False
    starts = [w for i, w in enumerate(words) if i == 0 or words[i - 1].part != w.part]
    return all(w.key in _INSIDE_WORDS or w.key.isdigit() for w in starts)


def _of(ref: _Reference, districts: set[str]) -> set[str]:
    return {d.province_2025 for units in ref.districts.values() for d in units if d.code in districts}


def _hint(words, end, ref, provinces) -> list[str]:
    """Commune names one edit away from the words where the commune should be (candidates, not a match)."""
    keys = (
        set().union(*(ref.commune_keys_by_province.get(p, set()) for p in provinces))
        if provinces
        else set(ref.communes)
    )
    out: dict[str, None] = {}
    for _start, key in _runs(words, end):
        if len(key) < 4:
            continue
        for near in sorted(keys):
            if _one_edit(key, near):
                for u in ref.communes[near]:
                    if provinces is None or u.province_2025 in provinces:
                        out.setdefault(u.name)
        if out:
            break
    return list(out)[:5]


def _one_edit(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` with one letter changed, added, removed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def check_address(value: str) -> tuple[str, str | None]:
    """(landed key, why the address cannot land or None): an address naming no commune anywhere is
    quarantined with the one-edit candidates; the dataset's scope is applied in dbt."""
    match = parse_address(value)
    if match.communes:
        return match.key(), None
    near = f"; candidates (one edit): {', '.join(match.hint)}" if match.hint else ""
    where = f" of province {match.province_written}" if match.province_written else ""
    return match.key(), f"unknown commune in address {value!r}{where}{near}"
