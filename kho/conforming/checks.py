"""``kho catalog validate``, past the schema: is each dataset whole? Every problem names its fix.

A dataset is whole when its raw table has a dbt source and a staging model reading it, its published
model exists, its expectation suites exist and name only columns its tables have, and the files generated
from the catalog (:mod:`kho.conforming.sync`) are up to date.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kho.catalog import Catalog, Dataset
from kho.conforming import sync
from kho.landing.land import raw_columns
from kho.settings import REPO, Settings

COLUMN_KWARGS = ("column", "column_A", "column_B")
LIST_KWARGS = ("column_list", "column_set")


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def suite_columns(path: Path) -> list[tuple[int, str]]:
    """(expectation number, column) for every column a suite names."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found = []
    for n, entry in enumerate(data.get("expectations") or [], start=1):
        kwargs = entry.get("kwargs") or {}
        found += [(n, kwargs[k]) for k in COLUMN_KWARGS if isinstance(kwargs.get(k), str)]
        for k in LIST_KWARGS:
            found += [(n, c) for c in kwargs.get(k) or [] if isinstance(c, str)]
    return found


def _suite_problems(ds: Dataset, layer: str, columns: set[str] | None, table: str) -> list[str]:
    path = REPO / "expectations" / ds.id / f"{layer}.yml"
    if not path.is_file():
        return [
            f"{ds.id}: no {layer} suite: write {_rel(path)} (expectations/README.md; `kho dataset new` writes one)"
        ]
    try:
        named = suite_columns(path)
    except yaml.YAMLError as exc:
        return [f"{_rel(path)}: not valid YAML: {str(exc).splitlines()[0]}"]
    if columns is None:
        return []
    return [
        f"{_rel(path)}, expectation {n}: column {col!r} is not a column of {table}"
        f" (it has: {', '.join(sorted(columns))}): rename it or remove the expectation"
        for n, col in named
        if col not in columns
    ]


def dataset_problems(cat: Catalog, s: Settings | None = None) -> list[str]:
    """Every problem that keeps a catalog dataset from running whole, each with its fix."""
    problems: list[str] = []
    try:
        manifest = sync.parse(s=s)
    except sync.SyncError as exc:
        return [f"the dbt project does not parse (run `make sync` if a dataset was just added): {exc}"]
    nodes = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    readers: dict[str, list[str]] = {}
    for node in nodes.values():
        for parent in node["depends_on"]["nodes"]:
            readers.setdefault(parent, []).append(node["name"])
    sources = {(s["schema"], s["name"]): uid for uid, s in manifest["sources"].items()}
    for ds in sorted(cat.datasets.values(), key=lambda d: d.id):
        where = f"{ds.id} ({_rel(ds.path) if ds.path else 'catalog'})"
        uid = sources.get((ds.raw_schema, ds.raw_table))
        if uid is None:
            problems.append(
                f"{where}: no dbt source for {ds.raw_schema}.{ds.raw_table}: run `make sync` (Kho writes it"
                " from the catalog before it runs dbt)"
            )
        elif not readers.get(uid):
            problems.append(
                f"{where}: no model reads source('{ds.agency}', '{ds.raw_table}'): add"
                f" dbt_project/models/staging/{ds.agency}/stg_{ds.agency}__{ds.id}.sql"
            )
        problems += _suite_problems(
            ds, "raw", {c for c, _ in raw_columns(ds)}, f"{ds.raw_schema}.{ds.raw_table}"
        )
        if ds.publish is None:
            continue
        model = nodes.get(ds.publish.model)
        if model is None:
            problems.append(
                f"{where}: publish.model {ds.publish.model!r} is not a dbt model: add"
                f" dbt_project/models/marts/{ds.publish.model}.sql, or name an existing model"
            )
            problems += _suite_problems(ds, "mart", None, ds.publish.model)
            continue
        if model.get("access") != "public":
            problems.append(
                f"{where}: publish.model {ds.publish.model} is not public: set config: {{access: public}}"
                f" and an enforced contract in its yml"
            )
        declared = set(model["columns"]) or None  # a model whose yml lists no column is not checked
        problems += _suite_problems(ds, "mart", declared, f"model {ds.publish.model}")
    problems += [
        f"{path}: out of date with the catalog: run `make sync` (Kho also does before it runs dbt)"
        for path in (_rel(p) for p in sync.out_of_date(cat, manifest))
    ]
    return problems
