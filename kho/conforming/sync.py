"""The dbt project's files that follow from the catalog, kept in line with it whenever Kho runs dbt.

The catalog says who owns each dataset, how open it is, how often it arrives and where it is published.
dbt needs the same facts in its own terms, so this module writes them (and nothing else) into:

- ``dbt_project/models/groups.yml``: one dbt group per agency (owner: the agency), plus ``platform`` for
  models built from reference data only or from several agencies' data;
- ``dbt_project/models/exposures.yml``: one exposure per published open dataset (its CKAN page), which
  depends on the model the publisher reads;
- ``dbt_project/models/staging/<agency>/_<agency>__<dataset>__sources.yml``: the dbt source of each catalog
  dataset that no hand-written sources file declares (a dataset added by ``kho dataset new``): its raw
  table's columns, descriptions, personal data and freshness, straight from its catalog entry;
- the ``# >>> kho-sync`` blocks of ``dbt_project/dbt_project.yml``:
  - ``vars``: ``kho_dataset_scopes`` (per dataset, its catalog ``scope``: where its names are matched),
    ``kho_source_freshness`` (per dataset, from its update frequency: each source table says
    ``freshness: "{{ var('kho_source_freshness')['<dataset>'] }}"``) and ``kho_agencies`` (``dim_agency``);
  - ``staging``, ``intermediate``, ``marts``: per model its group (the agency whose raw data it reads) and,
    for the public models, its grants (who may SELECT it: kho/conforming/access.py) and the catalog's personal
    columns of its datasets (checked by macros/grants_personal_data.sql before an open model is committed).

Nobody has to remember to run it: :func:`kho.conforming.dbt.run_dbt` calls :func:`ensure_synced` before every
dbt command Kho runs (``kho up``'s parse, the warehouse DAG's first task, ``kho run``), which costs a hash of
the inputs when nothing changed and rewrites a file only when its content differs. ``make sync`` and
``scripts/sync_dbt_from_catalog.py`` run it by hand; ``--check`` only compares.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from kho.catalog import CATALOG_DIR, Catalog, Dataset, load_catalog
from kho.conforming.access import OPEN_READER, PLATFORM_GROUP, ModelAccess, agency_role, model_access
from kho.conforming.project import dbt_process
from kho.errors import KhoError
from kho.settings import REPO, Settings, settings

DBT = REPO / "dbt_project"
PROJECT_FILE = DBT / "dbt_project.yml"
GROUPS_FILE = DBT / "models" / "groups.yml"
EXPOSURES_FILE = DBT / "models" / "exposures.yml"
STAGING = DBT / "models" / "staging"
LAYERS = ("staging", "intermediate", "marts")
HEADER = (
    "# Written by kho/conforming/sync.py from the catalog (whenever Kho runs dbt; by hand: `make sync`):"
    " edit the catalog, not this file.\n"
)
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
PROVENANCE_DOCS = {
    "_load_id": "Mã lần nạp (kho_meta.loads). / Load id (kho_meta.loads).",
    "_source_file": "Tên tệp nguồn. / Source file name.",
    "_file_sha256": "SHA-256 của tệp nguồn. / SHA-256 of the source file.",
    "_source_row": "Số dòng trong tệp nguồn. / Line (or Excel row) in the source file.",
    "_loaded_at": "Thời điểm nạp. / When the row was landed.",
}


class SyncError(KhoError):
    """The dbt project cannot be brought in line with the catalog."""


def ckan_name(identifier: str) -> str:
    """CKAN URL name for a catalog id (as publishers.metadata.ckan_name): ``crop_statistics`` -> ``crop-statistics``."""
    return identifier.replace("_", "-")


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


# --- dbt sources of the datasets no hand-written file declares --------------------------------------


def source_file(ds: Dataset) -> Path:
    return STAGING / ds.agency / f"_{ds.agency}__{ds.id}__sources.yml"


def generated(path: Path) -> bool:
    """Was ``path`` written by this module (its first line is :data:`HEADER`)?"""
    try:
        with path.open(encoding="utf-8") as f:
            return f.readline() == HEADER
    except OSError:
        return False


def declared_sources() -> set[tuple[str, str]]:
    """(source name, table) declared by the hand-written yml files under models/staging/."""
    found = set()
    for path in sorted(STAGING.rglob("*.yml")):
        if generated(path):
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            continue  # dbt names the broken file itself
        for source in data.get("sources") or []:
            for table in source.get("tables") or []:
                found.add((source.get("name"), table.get("name")))
    return found


def _bilingual(vi: str | None, en: str | None, fallback: str) -> str:
    vi, en = (vi or "").strip(), (en or "").strip()
    if vi and en:
        return f"{vi} / {en}"
    return f"{vi or en or fallback} / {en or vi or fallback}"


def sources_yml(ds: Dataset, cat: Catalog) -> str:
    """The dbt source of one dataset's raw table, from its catalog entry."""
    agency = cat.agencies[ds.agency]
    columns = [{"name": name, "description": text} for name, text in PROVENANCE_DOCS.items()]
    for col in ds.columns:
        unit = f" ({col.unit})" if col.unit else ""
        entry = {
            "name": col.name,
            "description": _bilingual(
                col.description_vi and col.description_vi + unit,
                col.description_en and col.description_en + unit,
                col.name,
            ),
        }
        if col.personal_data:
            entry["description"] += " (DỮ LIỆU CÁ NHÂN / PERSONAL DATA)"
            entry["meta"] = {"personal_data": True}
        columns.append(entry)
        if col.match:
            columns.append(
                {
                    "name": f"{col.name}_key",
                    "description": f"Khóa so khớp của {col.name} (kho/landing). / Match key of {col.name} (kho/landing).",
                }
            )
    source = {
        "name": ds.agency,
        "description": f"Bảng thô của {agency.name_vi}, nạp nguyên trạng bởi Kho. / "
        f"Raw tables of the {agency.name_en}, landed as delivered by Kho.",
        "schema": ds.raw_schema,
        "config": {"loaded_at_field": "_loaded_at"},
        "tables": [
            {
                "name": ds.raw_table,
                "description": f"{ds.title_vi}: một dòng mỗi dòng dữ liệu của tệp gửi đến. / "
                f"{ds.title_en}: one row per data row of a delivered file.",
                "config": {"freshness": f"{{{{ var('kho_source_freshness')['{ds.id}'] }}}}"},
                "columns": columns,
            }
        ],
    }
    return HEADER + _block({"sources": [source]})


def generated_sources(cat: Catalog) -> dict[Path, str]:
    declared = declared_sources()
    return {
        source_file(ds): sources_yml(ds, cat)
        for ds in sorted(cat.datasets.values(), key=lambda d: d.id)
        if (ds.agency, ds.raw_table) not in declared
    }


def stale_sources(cat: Catalog) -> list[Path]:
    """Generated source files no catalog dataset needs any more (removed, or now declared by hand)."""
    wanted = set(generated_sources(cat))
    return [p for p in sorted(STAGING.rglob("_*__sources.yml")) if generated(p) and p not in wanted]


# --- dbt_project.yml ------------------------------------------------------------------------------


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


def parse_target() -> Path:
    """Where :func:`parse` keeps its manifest between calls (in the project's target/, which dbt owns)."""
    return DBT / "target" / "kho-parse"


def parse(target: Path | None = None, s: Settings | None = None) -> dict:
    """``dbt parse`` of the project as it is on disk; the manifest. Into ``target`` when given; by default
    into :func:`parse_target`, kept between calls, one process at a time: dbt's partial parsing then reads
    only the files that changed (3.5 s instead of 9 s for this project here). A read-only checkout parses
    into a temporary folder."""
    if target is not None:
        return _parse(target, s)
    folder = parse_target()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder.with_suffix(".lock"), "a")  # noqa: SIM115 - held until the end
    except OSError:
        with tempfile.TemporaryDirectory(prefix="kho-parse-") as tmp:
            return _parse(Path(tmp), s)
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _parse(folder, s)


def _parse(target: Path, s: Settings | None) -> dict:
    result = dbt_process(["parse", "--quiet", "--target-path", str(target)], s=s, check=False)
    if result.returncode != 0:
        raise SyncError(f"dbt parse failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))


def render(cat: Catalog, manifest: dict | None, project_text: str) -> dict[Path, str]:
    """The wanted content of every file this module writes.

    Without a manifest (the first pass), only what the catalog alone decides: no exposures, and the model
    blocks as they are, so that the parse which gives the lineage cannot trip on a stale name.
    """
    text = replace_block(project_text, "vars", vars_block(cat))
    exposures = exposures_yml(cat, None)
    if manifest is not None:
        for layer, body in model_blocks(model_access(manifest, cat)).items():
            text = replace_block(text, layer, body)
        exposures = exposures_yml(cat, {n["name"] for n in manifest["nodes"].values()})
    return {
        PROJECT_FILE: text,
        GROUPS_FILE: groups_yml(cat),
        EXPOSURES_FILE: exposures,
        **generated_sources(cat),
    }


def out_of_date(cat: Catalog, manifest: dict) -> list[Path]:
    """The generated files whose content is not what :func:`render` would write (or that should be gone)."""
    wanted = render(cat, manifest, PROJECT_FILE.read_text(encoding="utf-8"))
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    return stale + stale_sources(cat)


def _write(wanted: dict[Path, str], echo: Callable[[str], None]) -> list[Path]:
    written = []
    for path, text in wanted.items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.kho-sync")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            raise SyncError(
                f"{path.relative_to(REPO)}: out of date with the catalog and cannot be written ({exc.strerror});"
                " run `make sync` where the repository is writable"
            ) from None
        written.append(path)
        echo(f"wrote {path.relative_to(REPO)}")
    return written


def sync(
    s: Settings | None = None, cat: Catalog | None = None, echo: Callable[[str], None] = print
) -> list[Path]:
    """Bring every generated file in line with the catalog and the models' lineage; the files written.

    First what the catalog alone decides (so that dbt can parse a source of a dataset just added), then,
    from one ``dbt parse``, the model blocks and exposures. A file is rewritten only when its content differs.
    """
    cat = cat or load_catalog()
    first = render(cat, None, PROJECT_FILE.read_text(encoding="utf-8"))
    first.pop(EXPOSURES_FILE)  # decided by the lineage: written once, below
    written = _write(first, echo)
    for path in stale_sources(cat):
        path.unlink()
        echo(f"removed {path.relative_to(REPO)}")
        written.append(path)
    manifest = parse(s=s)
    written += _write(render(cat, manifest, PROJECT_FILE.read_text(encoding="utf-8")), echo)
    return written


# --- the automatic run: only when an input changed ----------------------------------------------------


def inputs_digest() -> str:
    """A digest of everything the generated files depend on: the catalog, dbt_project.yml and the models."""
    digest = hashlib.sha256()
    files = sorted(CATALOG_DIR.rglob("*.yml")) + [PROJECT_FILE] + sorted((DBT / "models").rglob("*"))
    for path in files:
        if path.is_file() and not path.name.startswith("."):
            digest.update(str(path.relative_to(REPO) if path.is_relative_to(REPO) else path).encode())
            digest.update(b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def stamp_file() -> Path:
    return DBT / "target" / "kho-sync.sha256"


def ensure_synced(s: Settings | None = None, echo: Callable[[str], None] = print) -> list[Path]:
    """:func:`sync` unless nothing it reads changed since it last ran here (a digest of its inputs, kept in
    ``dbt_project/target/``); one process at a time (a file lock). The files written."""
    stamp = stamp_file()
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        lock = open(stamp.with_suffix(".lock"), "a")  # noqa: SIM115 - held until the end
    except OSError:
        lock = None  # a read-only checkout: compare and write as far as possible, without a stamp
    try:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        before = inputs_digest()
        if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == before:
            return []
        written = sync(s, echo=echo)
        try:
            stamp.write_text(inputs_digest(), encoding="utf-8")
        except OSError:
            pass
        return written
    finally:
        if lock is not None:
            lock.close()


def check(s: Settings | None = None) -> list[str]:
    """Generated files not what the catalog and the models make them (``make sync`` fixes them)."""
    s = s or settings()
    cat = load_catalog()
    manifest = parse(s=s)
    return [str(p.relative_to(REPO)) for p in out_of_date(cat, manifest)]
