"""Build the commune alias seed: every way Kho knows to name a commune, keyed per province.

    .kho/venvs/main/bin/python scripts/build_commune_aliases.py

Reads the committed reference seeds (``ref_admin_units_2025.csv``, ``ref_admin_units_2024.csv``,
``ref_admin_crosswalk_2025.csv``) and writes ``dbt_project/seeds/reference/ref_commune_aliases.csv``,
and ``ref_commune_alias_candidates.csv``, deterministically (running it twice gives the same bytes).

Agencies write a commune as "Xã Tam Đảo", "xa Tam Dao", "TAM ĐẢO" or by the name it had before the
reorganisation of 1 July 2025 ("Thị trấn Hợp Châu"). Landing reduces the delivered name to
``kho.landing.names.match_key`` (``<column>_key`` in the raw table); dbt joins that key to this seed. One row per
(province, key, vintage):

- ``province_code``: the 2025 province the name is looked up in. A commune name means nothing without its
  province (there are dozens of "Tân Lập"), so every join is scoped to the warehouse's province.
- ``vintage``: ``2025`` for the current communes, ``2024`` for the communes before the reorganisation. A
  dataset about 2023 prefers the 2024 meaning of a name, one about 2025 the current meaning.
- ``commune_code``: the unit the name denotes in that vintage; empty when the key is ``ambiguous`` (two
  units of the province and vintage share it: "Liên Hòa" in two former districts, or "Quan Sơn" and
  "Quán Sơn" once the accents are gone). ``candidates`` then lists them, for the data steward, and
  ``ref_commune_alias_candidates.csv`` has one row per candidate (code, official name, 2025 commune), so that
  dbt can still tell them apart when the name as delivered says more than its key: its unit type or its
  accents ("Phường Tân Quang" is not "Xã Tân Quang", "Tân Thanh" is not "Tân Thành").
- ``commune_code_2025``: where the unit's figures go after the reorganisation: the unit itself for 2025,
  the one new commune a 2024 commune went into whole (crosswalk ``full``), empty for a commune that was
  split between several new ones (its figures cannot be restated without knowing the shares).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from kho.landing.names import match_key

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "dbt_project" / "seeds" / "reference"
OUT = SEEDS / "ref_commune_aliases.csv"
CANDIDATES = SEEDS / "ref_commune_alias_candidates.csv"
CANDIDATE_COLUMNS = [
    "province_code",
    "alias_key",
    "vintage",
    "commune_code",
    "commune_name",
    "commune_code_2025",
]
COLUMNS = [
    "province_code",
    "alias_key",
    "vintage",
    "status",
    "commune_code",
    "commune_name",
    "commune_code_2025",
    "alias",
    "candidates",
]


def read_csv(name: str) -> list[dict[str, str]]:
    with (SEEDS / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def successors(crosswalk: list[dict[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Old commune code -> [(new code, overlap)]."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in crosswalk:
        if row["level"] == "commune":
            found[row["old_code"]].append((row["new_code"], row["overlap"]))
    return found


def candidates_2025(units: list[dict[str, str]]):
    """(province, key) -> {code: (name, first alias, code_2025)} for the current communes."""
    for unit in units:
        if unit["level"] != "commune":
            continue
        for name in (unit["name"], unit["short_name"]):
            yield unit["province_code"], match_key(name), unit, name, unit["code"]


def candidates_2024(units: list[dict[str, str]], crosswalk: list[dict[str, str]], provinces_2025: dict):
    """The communes before 1 July 2025, looked up in the 2025 province(s) their territory went to."""
    after = successors(crosswalk)
    for unit in units:
        if unit["level"] != "commune":
            continue
        targets = after.get(unit["code"], [])
        whole = targets[0][0] if len(targets) == 1 and targets[0][1] == "full" else ""
        for province in sorted({provinces_2025[new] for new, _ in targets}):
            for name in (unit["name"], unit["short_name"]):
                yield province, match_key(name), unit, name, whole


def build() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    units_2025 = read_csv("ref_admin_units_2025.csv")
    units_2024 = read_csv("ref_admin_units_2024.csv")
    crosswalk = read_csv("ref_admin_crosswalk_2025.csv")
    province_of = {u["code"]: u["province_code"] for u in units_2025}

    # (province, key, vintage) -> {unit code: (unit, first spelling, code_2025)}
    found: dict[tuple[str, str, str], dict[str, tuple[dict[str, str], str, str]]] = defaultdict(dict)
    for vintage, rows in (
        ("2025", candidates_2025(units_2025)),
        ("2024", candidates_2024(units_2024, crosswalk, province_of)),
    ):
        for province, key, unit, name, code_2025 in rows:
            found[(province, key, vintage)].setdefault(unit["code"], (unit, name, code_2025))

    out, candidates = [], []
    for (province, key, vintage), units in found.items():
        first = min(units.values(), key=lambda u: u[0]["code"])
        row = {"province_code": province, "alias_key": key, "vintage": vintage, "alias": first[1]}
        if len(units) == 1:
            unit, _, code_2025 = first
            row |= {
                "status": "unique",
                "commune_code": unit["code"],
                "commune_name": unit["name"],
                "commune_code_2025": code_2025,
                "candidates": "",
            }
        else:
            listed = sorted(units.values(), key=lambda u: u[0]["code"])
            candidates += [
                {
                    "province_code": province,
                    "alias_key": key,
                    "vintage": vintage,
                    "commune_code": unit["code"],
                    "commune_name": unit["name"],
                    "commune_code_2025": code_2025,
                }
                for unit, _, code_2025 in listed
            ]
            row |= {
                "status": "ambiguous",
                "commune_code": "",
                "commune_name": "",
                "commune_code_2025": "",
                "candidates": "; ".join(f"{u['code']} {u['name']}" for u, _, _ in listed),
            }
        out.append(row)
    out.sort(key=lambda r: (r["province_code"], r["alias_key"], r["vintage"]))
    candidates.sort(key=lambda r: (r["province_code"], r["alias_key"], r["vintage"], r["commune_code"]))
    return out, candidates


def main() -> None:
    rows, candidates = build()
    for path, columns, content in ((OUT, COLUMNS, rows), (CANDIDATES, CANDIDATE_COLUMNS, candidates)):
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(content)
    ambiguous = sum(r["status"] == "ambiguous" for r in rows)
    split = sum(r["status"] == "unique" and not r["commune_code_2025"] for r in rows)
    print(f"{OUT.relative_to(REPO)}: {len(rows)} rows ({ambiguous} ambiguous keys, {split} split communes)")


if __name__ == "__main__":
    main()
