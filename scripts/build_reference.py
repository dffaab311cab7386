"""Build the committed reference seeds of the dbt project from the shared reference CSVs.

    .kho/venvs/main/bin/python scripts/build_reference.py [SOURCE_DIR]

SOURCE_DIR defaults to /work/shared/reference (see kho/reference/README.md for what it holds and its
licences). Outputs go to dbt_project/seeds/reference/ and are deterministic: running the script twice
gives byte-identical files, so a diff shows exactly what changed upstream.

The alias file is the one place where agencies' spellings of provinces, regions and the country meet
codes. Its keys are computed with kho.landing.names.match_key; two areas sharing a key stops the script, because
a silent collision would put one province's numbers under another.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

from kho.landing.names import match_key

REPO = Path(__file__).resolve().parent.parent

DEFAULT_SOURCE = Path("/work/shared/reference")
OUT = REPO / "dbt_project" / "seeds" / "reference"

UNIT_COLUMNS = ["code", "name", "short_name", "unit_type", "level", "parent_code", "province_code"]

# Provinces that no longer exist in the 2024 list but appear in older statistical series.
# Hà Tây: merged into Hà Nội by Nghị quyết 15/2008/QH12, effective 1 Aug 2008. The same resolution moved
# Mê Linh (Vĩnh Phúc) and four communes of Lương Sơn (Hòa Bình) into Hà Nội, so those provinces' series
# also shift in 2008; that is a boundary change, not a code change, and is not modelled here.
HISTORIC_PROVINCES = [
    {
        "code": "28",
        "name": "Tỉnh Hà Tây",
        "short_name": "Hà Tây",
        "unit_type": "Tỉnh",
        "name_en": "Ha Tay Province",
        "merged_into_code": "01",
        "valid_to": "2008-07-31",
        "legal_basis": "15/2008/QH12",
    },
]

# The six socio-economic regions of the statistics office, with their members among the 2024 provinces.
# English names as the PX-Web tables spell them; a few other spellings seen in GSO publications follow.
REGIONS = [
    {
        "region_code": "RRD",
        "name_vi": "Đồng bằng sông Hồng",
        "name_en": "Red River Delta",
        "other_names": [],
        "provinces": ["01", "22", "26", "27", "30", "31", "33", "34", "35", "36", "37"],
    },
    {
        "region_code": "NMM",
        "name_vi": "Trung du và miền núi phía Bắc",
        "name_en": "Northern midlands and mountain areas",
        "other_names": ["Northern midlands and mountainous areas"],
        "provinces": ["02", "04", "06", "08", "10", "11", "12", "14", "15", "17", "19", "20", "24", "25"],
    },
    {
        "region_code": "NCC",
        "name_vi": "Bắc Trung Bộ và duyên hải miền Trung",
        "name_en": "North Central and Central coastal areas",
        "other_names": ["North Central area and Central coastal area"],
        "provinces": ["38", "40", "42", "44", "45", "46", "48", "49", "51", "52", "54", "56", "58", "60"],
    },
    {
        "region_code": "CHL",
        "name_vi": "Tây Nguyên",
        "name_en": "Central Highlands",
        "other_names": [],
        "provinces": ["62", "64", "66", "67", "68"],
    },
    {
        "region_code": "SE",
        "name_vi": "Đông Nam Bộ",
        "name_en": "South East",
        "other_names": [],
        "provinces": ["70", "72", "74", "75", "77", "79"],
    },
    {
        "region_code": "MRD",
        "name_vi": "Đồng bằng sông Cửu Long",
        "name_en": "Mekong River Delta",
        "other_names": ["Mekong Delta"],
        "provinces": ["80", "82", "83", "84", "86", "87", "89", "91", "92", "93", "94", "95", "96"],
    },
]

COUNTRY = {"code": "VN", "name_vi": "Cả nước", "names": ["WHOLE COUNTRY", "Cả nước", "Toàn quốc", "Việt Nam"]}

# Spellings of 2024 provinces that differ from the official and English names by more than spacing,
# case and diacritics (those are already equal under match_key).
PROVINCE_EXTRA_NAMES = {
    "06": ["Bắc Cạn"],
    "46": ["Thừa Thiên Huế", "Thua Thien-Hue"],  # the province's name until 31 Dec 2024
    "66": ["Đắc Lắc"],
    "79": ["TP.HCM", "HCMC"],
}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{path.relative_to(REPO)}: {len(rows)} rows")


def check_units(units: list[dict[str, str]], vintage: str) -> None:
    codes = [u["code"] for u in units]
    if len(codes) != len(set(codes)):
        sys.exit(f"units {vintage}: duplicate codes")
    known = set(codes)
    orphans = [u["code"] for u in units if u["parent_code"] and u["parent_code"] not in known]
    if orphans:
        sys.exit(f"units {vintage}: parent_code not in the list for {orphans[:10]}")


def build_crosswalk(mapping: list[dict[str, str]]) -> list[dict[str, str]]:
    rows = []
    for m in mapping:
        if m["old_in_units_2024"] != "true":
            continue  # the 12 communes of the raw GSO dump that are not in the official 10,035
        level = "district" if m["level"] == "district_without_communes" else m["level"]
        rows.append(
            {"old_code": m["old_code"], "new_code": m["new_code"], "level": level, "overlap": m["overlap"]}
        )
    rows.sort(key=lambda r: (len(r["old_code"]), r["old_code"], r["new_code"]))
    return rows


def _area(level: str, code: str, code_2025: str, name_vi: str) -> dict[str, str]:
    return {"area_level": level, "area_code": code, "area_code_2025": code_2025, "name_vi": name_vi}


def build_aliases(units_2024: list[dict[str, str]], crosswalk: list[dict[str, str]]) -> list[dict[str, str]]:
    to_2025 = {c["old_code"]: c["new_code"] for c in crosswalk if c["level"] == "province"}
    areas = [(_area("country", COUNTRY["code"], "", COUNTRY["name_vi"]), COUNTRY["names"])]
    for r in REGIONS:
        areas.append(
            (
                _area("region", r["region_code"], "", r["name_vi"]),
                [r["name_vi"], r["name_en"], *r["other_names"]],
            )
        )
    for p in (u for u in units_2024 if u["level"] == "province"):
        names = [p["name"], p["short_name"], p["name_en"], *PROVINCE_EXTRA_NAMES.get(p["code"], [])]
        areas.append((_area("province", p["code"], to_2025[p["code"]], p["short_name"]), names))
    for h in HISTORIC_PROVINCES:
        area = _area("province", h["code"], to_2025[h["merged_into_code"]], h["short_name"])
        areas.append((area, [h["name"], h["short_name"], h["name_en"]]))

    owners: dict[str, set[str]] = defaultdict(set)
    rows: dict[str, dict[str, str]] = {}
    for area, names in areas:
        for name in names:
            key = match_key(name)
            owners[key].add(f"{area['area_level']} {area['area_code']}")
            rows.setdefault(key, {"area_key": key, **area, "alias": name})
    collisions = {k: sorted(v) for k, v in owners.items() if len(v) > 1}
    if collisions:
        sys.exit(f"alias keys shared by different areas: {collisions}")
    level_order = {"country": 0, "region": 1, "province": 2}
    return sorted(rows.values(), key=lambda r: (level_order[r["area_level"]], r["area_code"], r["area_key"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source", nargs="?", type=Path, default=DEFAULT_SOURCE, help="folder of reference CSVs"
    )
    source = parser.parse_args(argv).source

    units_2024 = read_csv(source / "units_2024.csv")
    units_2025 = read_csv(source / "units_2025.csv")
    check_units(units_2024, "2024")
    check_units(units_2025, "2025")
    crosswalk = build_crosswalk(read_csv(source / "mapping_2024_2025.csv"))
    province_codes_2024 = {u["code"] for u in units_2024 if u["level"] == "province"}
    members = [code for r in REGIONS for code in r["provinces"]]
    if sorted(members) != sorted(province_codes_2024):
        sys.exit("regions: every 2024 province must belong to exactly one region")

    write_csv(OUT / "ref_admin_units_2024.csv", UNIT_COLUMNS, units_2024)
    write_csv(OUT / "ref_admin_units_2025.csv", UNIT_COLUMNS, units_2025)
    write_csv(OUT / "ref_admin_crosswalk_2025.csv", ["old_code", "new_code", "level", "overlap"], crosswalk)
    write_csv(
        OUT / "ref_historic_provinces.csv",
        ["code", "name", "short_name", "unit_type", "merged_into_code", "valid_to", "legal_basis"],
        HISTORIC_PROVINCES,
    )
    region_rows = [
        {
            "region_code": r["region_code"],
            "region_name_vi": r["name_vi"],
            "region_name_en": r["name_en"],
            "province_code": code,
        }
        for r in REGIONS
        for code in sorted(r["provinces"])
    ]
    write_csv(
        OUT / "ref_regions.csv",
        ["region_code", "region_name_vi", "region_name_en", "province_code"],
        region_rows,
    )
    write_csv(
        OUT / "ref_area_aliases.csv",
        ["area_key", "area_level", "area_code", "area_code_2025", "name_vi", "alias"],
        build_aliases(units_2024, crosswalk),
    )


if __name__ == "__main__":
    main()
