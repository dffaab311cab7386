"""Write the dbt project's governance from the catalog and the models' lineage; ``--check``: only compare.

The catalog says who owns each dataset, how open it is, how often it arrives and where it is published.
dbt needs the same facts in its own terms, so this script writes them (and nothing else) into:

- ``dbt_project/models/groups.yml``: one dbt group per agency (owner: the agency), plus ``platform`` for
  models built from reference data only or from several agencies' data;
- ``dbt_project/models/exposures.yml``: one exposure per published open dataset (its CKAN page), which
  depends on the model the publisher reads;
- the ``# >>> kho-sync`` blocks of ``dbt_project/dbt_project.yml``:
  - ``vars``: ``kho_dataset_scopes`` (per dataset, its catalog ``scope``: where its names are matched),
    ``kho_source_freshness`` (per dataset, from its update frequency: each source table says
    ``freshness: "{{ var('kho_source_freshness')['<dataset>'] }}"``) and ``kho_agencies`` (``dim_agency``);
  - ``staging``, ``intermediate``, ``marts``: per model its group (the agency whose raw data it reads) and,
    for the public models, its grants (who may SELECT it: kho/conforming/access.py) and the catalog's personal columns
    of its datasets (checked by macros/grants_personal_data.sql before an open model is committed).

The lineage comes from ``dbt parse`` (into a temporary target directory). Run it after changing the catalog
or adding a model; ``--check`` exits 1 when the files are not what it would write (the unit tests run it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kho.catalog import Catalog, Dataset, catalog  # noqa: E402
from kho.conforming.access import OPEN_READER, PLATFORM_GROUP, ModelAccess, agency_role, model_access  # noqa: E402
from kho.conforming.dbt import run_dbt  # noqa: E402
from publishers.metadata import ckan_name  # noqa: E402

DBT = REPO / "dbt_project"
PROJECT_FILE = DBT / "dbt_project.yml"
GROUPS_FILE = DBT / "models" / "groups.yml"
EXPOSURES_FILE = DBT / "models" / "exposures.yml"
LAYERS = ("staging", "intermediate", "marts")
HEADER = "# Written by scripts/sync_dbt_from_catalog.py from the catalog: edit the catalog, then run `make sync`.\n"
# (warn, error) in days after the last landed row: one period late warns, about two periods late fails.
FRESHNESS_DAYS = {
    "daily": (2, 4),
    "weekly": (10, 21),
    "monthly": (40, 70),
    "quarterly": (130, 200),
    "yearly": (400, 800),
}
# Where the exposures point when KHO_CKAN_URL is not set while dbt parses (the demo's portal).
DEFAULT_CKAN_URL = "http://127.0.0.1:54350"


class SyncError(RuntimeError):
    """The dbt project cannot be brought in line with the catalog."""


def freshness(ds: Dataset) -> dict:
    warn, error = FRESHNESS_DAYS[ds.update_frequency]
    return {"warn_after": {"count": warn, "period": "day"}, "error_after": {"count": error, "period": "day"}}


def _flow(value) -> str:
    """One YAML line: ``{a: 1, b: [x, y]}``."""
    return yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10_000
    ).strip()


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as the hand-written yml files do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def _block(data) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110)


def groups_yml(cat: Catalog) -> str:
    groups = [
        {
            "name": agency.id,
            "description": f"Mô hình từ dữ liệu của {agency.name_vi}. / "
            f"Models built from the data of the {agency.name_en}.",
            "owner": {"name": agency.name_vi, **({"email": agency.email} if agency.email else {})},
        }
        for agency in sorted(cat.agencies.values(), key=lambda a: a.id)
    ]
    groups.append(
        {
            "name": PLATFORM_GROUP,
            "description": "Nhóm vận hành Kho: mô hình từ dữ liệu tham chiếu hoặc của nhiều cơ quan. / "
            "The Kho platform team: models built from reference data or from several agencies' data.",
            "owner": {"name": "Kho platform team"},
        }
    )
    return HEADER + _block({"groups": groups})


def exposures_yml(cat: Catalog, models: set[str] | None) -> str:
    """One exposure per published open dataset whose model exists (``models``; None: none yet)."""
    exposures = []
    for ds in sorted(cat.datasets.values(), key=lambda d: d.id):
        if ds.publish is None or not ds.is_open or ds.publish.model not in (models or ()):
            continue
        agency = cat.agencies[ds.agency]
        exposures.append(
            {
                "name": f"ckan_{ds.id}",
                "label": ds.title_vi,
                "type": "application",
                "maturity": "high",
                "url": f"{{{{ env_var('KHO_CKAN_URL', '{DEFAULT_CKAN_URL}') }}}}/dataset/{ckan_name(ds.id)}",
                "description": f"Cổng dữ liệu mở (CKAN): {ds.title_vi}. / Open-data portal (CKAN): {ds.title_en}.",
                "owner": {"name": agency.name_vi, **({"email": agency.email} if agency.email else {})},
                "depends_on": [f"ref('{ds.publish.model}')"],
                "config": {
                    "meta": {"dataset": ds.id, "licence": ds.licence},
                    "tags": ["ckan", ds.agency],
                },
            }
        )
    return HEADER + _block({"exposures": exposures})


def vars_block(cat: Catalog) -> list[str]:
    lines = ["kho_source_freshness:"]
    for ds in sorted(cat.datasets.values(), key=lambda d: d.id):
        lines.append(f"  {ds.id}: {_flow(freshness(ds))}")
    lines.append(
        "kho_dataset_scopes:"
    )  # macros/match_communes.sql kho_scope(); null: the platform's province
    for ds in sorted(cat.datasets.values(), key=lambda d: d.id):
        lines.append(f"  {ds.id}: {_flow(ds.scope) if ds.scope else 'null'}")
    lines.append("kho_agencies:")
    for agency in sorted(cat.agencies.values(), key=lambda a: a.id):
        datasets = [ds for ds in cat.datasets.values() if ds.agency == agency.id]
        row = {
            "id": agency.id,
            "name_vi": agency.name_vi,
            "name_en": agency.name_en,
            "email": agency.email,
            "role": agency_role(agency.id),
            "ckan_organization": ckan_name(agency.id),
            "datasets": len(datasets),
            "open_datasets": sum(ds.is_open for ds in datasets),
        }
        lines.append(f"  - {_flow(row)}")
    return lines


def model_config(m: ModelAccess) -> dict:
    config: dict = {"+group": m.group}
    if m.readers:
        config["+grants"] = {"select": list(m.readers)}
        if OPEN_READER in m.readers and m.personal_columns:  # what the personal-data hook checks
            config["+meta"] = {"kho_personal_columns": list(m.personal_columns)}
    return config


def model_blocks(models: dict[str, ModelAccess]) -> dict[str, list[str]]:
    """Per layer folder, the nested per-model configs (subfolders nest, as dbt paths do)."""
    trees: dict[str, dict] = {layer: {} for layer in LAYERS}
    for m in sorted(models.values(), key=lambda m: m.path):
        if m.path[0] not in trees:
            raise SyncError(
                f"model {m.name} is in models/{m.path[0]}/: put it under one of {', '.join(LAYERS)}"
            )
        node = trees[m.path[0]]
        for folder in m.path[1:-1]:
            node = node.setdefault(folder, {})
        node[m.name] = model_config(m)

    def lines(tree: dict, indent: int = 0) -> list[str]:
        out = []
        for key, value in tree.items():
            if all(k.startswith("+") for k in value):
                out.append(" " * indent + f"{key}: {_flow(value)}")
            else:
                out += [" " * indent + f"{key}:", *lines(value, indent + 2)]
        return out

    return {layer: lines(tree) for layer, tree in trees.items()}


def replace_block(text: str, name: str, body: list[str]) -> str:
    """Put ``body`` between the ``# >>> kho-sync <name>`` and ``# <<< kho-sync <name>`` lines, at their indent."""
    pattern = re.compile(
        rf"^(?P<indent>[ ]*)# >>> kho-sync {name}\n.*?^(?P=indent)# <<< kho-sync {name}\n", re.M | re.S
    )
    match = pattern.search(text)
    if match is None:
        raise SyncError(f"{PROJECT_FILE.name}: no '# >>> kho-sync {name}' ... '# <<< kho-sync {name}' block")
    indent = match["indent"]
    inner = "".join(f"{indent}{line}\n" for line in body)
    block = f"{indent}# >>> kho-sync {name}\n{inner}{indent}# <<< kho-sync {name}\n"
    return text[: match.start()] + block + text[match.end() :]


def parse(target: Path) -> dict:
    """``dbt parse`` of the project as it is on disk, into ``target``; the manifest."""
    result = run_dbt(["parse", "--quiet", "--target-path", str(target)], check=False)
    if result.returncode != 0:
        raise SyncError(f"dbt parse failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))


def render(cat: Catalog, manifest: dict | None, project_text: str) -> dict[Path, str]:
    """The wanted content of every file this script writes.

    Without a manifest (the first pass), only what the catalog alone decides: no exposures, and the model
    blocks as they are, so that the parse which gives the lineage cannot trip on a stale name.
    """
    text = replace_block(project_text, "vars", vars_block(cat))
    exposures = exposures_yml(cat, None)
    if manifest is not None:
        for layer, body in model_blocks(model_access(manifest, cat)).items():
            text = replace_block(text, layer, body)
        exposures = exposures_yml(cat, {n["name"] for n in manifest["nodes"].values()})
    return {PROJECT_FILE: text, GROUPS_FILE: groups_yml(cat), EXPOSURES_FILE: exposures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a file differs from what would be written"
    )
    args = parser.parse_args(argv)
    cat = catalog()
    with tempfile.TemporaryDirectory(prefix="kho-sync-") as tmp:
        if args.check:
            wanted = render(cat, parse(Path(tmp)), PROJECT_FILE.read_text(encoding="utf-8"))
            stale = [
                p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text
            ]
            for path in stale:
                print(f"out of date: {path.relative_to(REPO)}", file=sys.stderr)
            if stale:
                print("run: .kho/venvs/main/bin/python scripts/sync_dbt_from_catalog.py", file=sys.stderr)
            return 1 if stale else 0
        before = {
            p: p.read_text(encoding="utf-8") if p.exists() else None
            for p in (PROJECT_FILE, GROUPS_FILE, EXPOSURES_FILE)
        }
        for path, text in render(cat, None, before[PROJECT_FILE]).items():
            path.write_text(text, encoding="utf-8")
        manifest = parse(Path(tmp) / "lineage")
        for path, text in render(cat, manifest, PROJECT_FILE.read_text(encoding="utf-8")).items():
            path.write_text(text, encoding="utf-8")
            if text != before[path]:
                print(f"wrote {path.relative_to(REPO)}")
        parse(Path(tmp) / "written")  # what was written parses
    return 0


if __name__ == "__main__":
    sys.exit(main())
