"""Which area names Kho knows, for checking deliveries before they land.

The alias list is the dbt seed ``ref_area_aliases.csv`` (built from the GSO lists by
``scripts/build_reference.py``); landing checks keys against it so that an unknown name is
quarantined with suggestions, and dbt joins on the same keys. One list, two readers.
"""

from __future__ import annotations

import csv
from functools import cache, lru_cache

import yaml

from kho.catalog import SAFE_LOADER, Dataset
from kho.landing.addresses import check_address, parse_address
from kho.landing.names import match_key, suggest
from kho.settings import REPO

ALIASES = REPO / "dbt_project" / "seeds" / "reference" / "ref_area_aliases.csv"
# Communes: every province's, keyed per province (scripts/build_commune_aliases.py). Landing only asks
# whether a key names some commune at all; dbt resolves it within the warehouse's province.
COMMUNE_ALIASES = REPO / "dbt_project" / "seeds" / "reference" / "ref_commune_aliases.csv"

# Which alias levels a catalog column's ``match`` accepts.
LEVELS = {
    "area": {"country", "region", "province"},
    # a province column's national and regional rows ("Cả nước", "Red River Delta") are recognised, not unknown
    "province": {"country", "region", "province"},
    "commune": {"commune"},
}
UNITS_2025 = REPO / "dbt_project" / "seeds" / "reference" / "ref_admin_units_2025.csv"
PROJECT = REPO / "dbt_project" / "dbt_project.yml"


@cache
def platform_province() -> str:
    """The province this Kho serves (dbt var ``kho_province_code``): a dataset's scope when it sets none."""
    project = yaml.load(PROJECT.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}  # noqa: S506 (safe)
    return str((project.get("vars") or {}).get("kho_province_code", "08"))


def dataset_scope(ds: Dataset) -> tuple[str, ...] | None:
    """The 2025 province codes a dataset's places must lie in; None: national."""
    if ds.scope == "national":
        return None
    return tuple(ds.scope) if ds.scope else (platform_province(),)


@cache
def province_names() -> dict[str, str]:
    """2025 province code -> official name."""
    with UNITS_2025.open(encoding="utf-8", newline="") as f:
        return {r["code"]: r["name"] for r in csv.DictReader(f) if r["level"] == "province"}


@cache
def province_codes() -> dict[str, str]:
    """Province name key -> 2025 province code (names of both lists; regions and the country have none)."""
    with ALIASES.open(encoding="utf-8", newline="") as f:
        return {
            r["area_key"]: r["area_code_2025"]
            for r in csv.DictReader(f)
            if r["area_level"] == "province" and r["area_code_2025"]
        }


def _scope_text(scope: tuple[str, ...]) -> str:
    return ", ".join(f"{province_names().get(c, c)} ({c})" for c in scope)


def outside_scope(match: str, key: str, value: str, scope: tuple[str, ...] | None) -> str | None:
    """Why a place lies outside the dataset's scope, or None: a province column's province, or the province an
    address writes, that is not one of the scope's (an address naming no province is left to dbt's scope)."""
    if scope is None:
        return None
    if match == "address":
        code = parse_address(value).province_written
    elif match == "province":
        code = province_codes().get(key)
    else:
        return None
    if code is None or code in scope:
        return None
    return (
        f"expected a place within the dataset's scope ({_scope_text(scope)}), found province"
        f" {province_names().get(code, code)} ({code}) in {value!r}"
    )


@cache
def known_names(match: str) -> dict[str, str]:
    """Match key -> official Vietnamese name, for the alias levels a ``match`` kind accepts."""
    levels = LEVELS[match]
    with ALIASES.open(encoding="utf-8", newline="") as f:
        known = {row["area_key"]: row["name_vi"] for row in csv.DictReader(f) if row["area_level"] in levels}
    if "commune" in levels:
        for _, key, written in _commune_aliases():
            known.setdefault(key, written)
    return known


@cache
def _commune_aliases() -> list[tuple[str, str, str]]:
    """(province code, alias key, name as written) of each row of the commune alias list: 12,000 rows, read
    with a plain reader when a delivery first matches a commune."""
    if not COMMUNE_ALIASES.exists():
        return []
    with COMMUNE_ALIASES.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        province, key, name, alias = (
            header.index(c) for c in ("province_code", "alias_key", "commune_name", "alias")
        )
        return [(row[province], row[key], row[name] or row[alias]) for row in rows]


@cache
def usual_names(match: str, scope: tuple[str, ...] | None) -> tuple[str, ...]:
    """The names of a ``match`` kind as the reference writes them, each once, the communes of the scope's
    provinces first: what a delivery's names mostly are."""
    if match not in LEVELS:
        return ()
    names = list(known_names(match).values())
    if "commune" in LEVELS[match] and scope is not None:
        names = [written for province, _, written in _commune_aliases() if province in scope] + names
    return tuple(dict.fromkeys(n for n in names if n))


@lru_cache(maxsize=1 << 14)
def check_name(match: str, value: str, scope: tuple[str, ...] | None | str = "any") -> tuple[str, str | None]:
    """(match key, why the name cannot land or None): an unknown name comes with the nearest known ones; with a
    ``scope`` (:func:`dataset_scope`), a province or an address's province outside it is refused too, never
    matched to a unit inside it.

    Cached: a delivery repeats its names, and the suggestions take a while to find.
    """
    if match == "address":  # read, not looked up: the landed key is the whole reading (addresses.py)
        key, unknown = check_address(value)
        if unknown is None and scope != "any":
            unknown = outside_scope(match, key, value, scope)
        return key, unknown
    key = match_key(value)
    known = known_names(match)
    if key in known:
        if scope != "any":
            return key, outside_scope(match, key, value, scope)
        return key, None
    hint = dict.fromkeys(known[k] for k in suggest(key, known))
    near = f"; nearest known: {', '.join(hint)}" if hint else ""
    return key, f"unknown {match} name {value!r}{near}"
