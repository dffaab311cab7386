"""Which area names Kho knows, for checking deliveries before they land.

The alias list is the dbt seed ``ref_area_aliases.csv`` (built from the GSO lists by
``scripts/build_reference.py``); landing checks keys against it so that an unknown name is
quarantined with suggestions, and dbt joins on the same keys. One list, two readers.
"""

from __future__ import annotations

import csv
from functools import cache, lru_cache

from kho.landing.addresses import check_address
from kho.landing.names import match_key, suggest
from kho.settings import REPO

ALIASES = REPO / "dbt_project" / "seeds" / "reference" / "ref_area_aliases.csv"
# Communes: every province's, keyed per province (scripts/build_commune_aliases.py). Landing only asks
# whether a key names some commune at all; dbt resolves it within the warehouse's province.
COMMUNE_ALIASES = REPO / "dbt_project" / "seeds" / "reference" / "ref_commune_aliases.csv"

# Which alias levels a catalog column's ``match`` accepts.
LEVELS = {
    "area": {"country", "region", "province"},
    "province": {"province"},
    "commune": {"commune"},
}


@cache
def known_names(match: str) -> dict[str, str]:
    """Match key -> official Vietnamese name, for the alias levels a ``match`` kind accepts."""
    levels = LEVELS[match]
    with ALIASES.open(encoding="utf-8", newline="") as f:
        known = {row["area_key"]: row["name_vi"] for row in csv.DictReader(f) if row["area_level"] in levels}
    if "commune" in levels and COMMUNE_ALIASES.exists():
        with COMMUNE_ALIASES.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                known.setdefault(row["alias_key"], row["commune_name"] or row["alias"])
    return known


@lru_cache(maxsize=1 << 14)
def check_name(match: str, value: str) -> tuple[str, str | None]:
    """(match key, why the name cannot land or None): an unknown name comes with the nearest known ones.

    Cached: a delivery repeats its names, and the suggestions take a while to find.
    """
    if match == "address":  # read, not looked up: the landed key is the whole reading (addresses.py)
        return check_address(value)
    key = match_key(value)
    known = known_names(match)
    if key in known:
        return key, None
    hint = dict.fromkeys(known[k] for k in suggest(key, known))
    near = f"; nearest known: {', '.join(hint)}" if hint else ""
    return key, f"unknown {match} name {value!r}{near}"
