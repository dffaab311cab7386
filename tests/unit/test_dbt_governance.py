"""The dbt project as its community expects it (dbt-project-evaluator's rules, written out here), and the
governance Kho derives from the catalog: groups, grants, exposures, source freshness, personal data.

Reads the manifest of a fresh ``dbt parse`` (no database needed). Each test lists every offender at once.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kho.catalog import catalog, load_catalog
from kho.conforming.access import (
    AGENCY_GROUP,
    OPEN_READER,
    PLATFORM_GROUP,
    agency_role,
    model_access,
    readers_for,
)
from kho.settings import REPO

SCRIPT = REPO / "scripts" / "sync_dbt_from_catalog.py"


def _sync_module():
    spec = importlib.util.spec_from_file_location("sync_dbt_from_catalog", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync = _sync_module()


def models(manifest: dict) -> dict[str, dict]:
    return {
        n["name"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["package_name"] == "kho"
    }


def data_tests_of(manifest: dict) -> dict[str, list[dict]]:
    """Model name -> its generic data tests (name, column, kwargs)."""
    by_id = {n["unique_id"]: n["name"] for n in models(manifest).values()}
    out: dict[str, list[dict]] = {}
    for node in manifest["nodes"].values():
        if (
            node["resource_type"] == "test"
            and node.get("test_metadata")
            and node.get("attached_node") in by_id
        ):
            out.setdefault(by_id[node["attached_node"]], []).append(
                {
                    "test": node["test_metadata"]["name"],
                    "column": node.get("column_name"),
                    "kwargs": node["test_metadata"].get("kwargs", {}),
                }
            )
    return out


def not_null_columns(node: dict, tests: list[dict]) -> set[str]:
    cols = {t["column"] for t in tests if t["test"] == "not_null"}
    for name, col in node["columns"].items():
        if any(c.get("type") == "not_null" for c in col.get("constraints", [])):
            cols.add(name)
    for c in node.get("constraints", []):
        if c.get("type") == "primary_key":
            cols |= set(c.get("columns") or [])
    return cols


def has_tested_primary_key(node: dict, tests: list[dict]) -> bool:
    """unique + not_null on one column, or unique_combination_of_columns on columns never null."""
    not_null = not_null_columns(node, tests)
    if any(t["test"] == "unique" and t["column"] in not_null for t in tests):
        return True
    combos = [t["kwargs"].get("combination_of_columns") or [] for t in tests]
    return any(combo and set(combo) <= not_null for combo in combos)


def bilingual(text: str | None) -> bool:
    """Kho's descriptions are 'Vietnamese / English'."""
    parts = (text or "").split(" / ")
    return len(parts) >= 2 and all(p.strip() for p in parts)


# --- documentation and testing ---------------------------------------------------------------


def test_every_model_is_described(manifest):
    missing = sorted(name for name, n in models(manifest).items() if not n["description"].strip())
    assert not missing, f"models without a description: {missing}"


def test_every_model_has_a_tested_primary_key(manifest):
    tests = data_tests_of(manifest)
    missing = sorted(
        n for n, node in models(manifest).items() if not has_tested_primary_key(node, tests.get(n, []))
    )
    assert not missing, (
        "models without a tested primary key (unique + not_null, or unique_combination_of_columns on "
        f"not-null columns): {missing}"
    )


# --- governance: public models ----------------------------------------------------------------


def test_public_models_have_enforced_contracts_and_bilingual_columns(manifest):
    problems = []
    for name, node in sorted(models(manifest).items()):
        if node.get("access") != "public":
            continue
        if not node["config"].get("contract", {}).get("enforced"):
            problems.append(f"{name}: no enforced contract")
        if not bilingual(node["description"]):
            problems.append(f"{name}: description is not 'Vietnamese / English'")
        for col, spec in node["columns"].items():
            if not bilingual(spec.get("description")):
                problems.append(f"{name}.{col}: description is not 'Vietnamese / English'")
    assert not problems, "\n".join(problems)


def test_published_models_are_public(manifest):
    nodes = models(manifest)
    problems = [
        f"{ds.id}: publish model {ds.publish.model} is "
        + ("missing" if ds.publish.model not in nodes else f"access {nodes[ds.publish.model].get('access')}")
        for ds in catalog().datasets.values()
        if ds.publish and nodes.get(ds.publish.model, {}).get("access") != "public"
    ]
    assert not problems, "\n".join(problems)


# --- groups -----------------------------------------------------------------------------------


def test_groups_are_the_catalog_agencies(manifest):
    groups = {g["name"]: g for g in manifest["groups"].values()}
    agencies = catalog().agencies
    assert set(groups) == set(agencies) | {PLATFORM_GROUP}
    for agency in agencies.values():
        assert groups[agency.id]["owner"].get("email") == agency.email


def test_every_model_is_in_the_group_of_its_data(manifest):
    lineage = model_access(manifest)
    problems = [
        f"{name}: group {node['group']!r}, expected {lineage[name].group!r} (run scripts/sync_dbt_from_catalog.py)"
        for name, node in sorted(models(manifest).items())
        if node["group"] != lineage[name].group
    ]
    assert not problems, "\n".join(problems)


# --- structure --------------------------------------------------------------------------------


def test_staging_models_are_views_of_one_source(manifest):
    problems = []
    for name, node in sorted(models(manifest).items()):
        if node["fqn"][1] != "staging":
            continue
        if node["config"]["materialized"] != "view":
            problems.append(f"{name}: materialized {node['config']['materialized']}, not a view")
        parents = node["depends_on"]["nodes"]
        if len(parents) != 1 or not parents[0].startswith("source."):
            problems.append(f"{name}: reads {parents}, not exactly one source (staging does not join)")
    assert not problems, "\n".join(problems)


# --- exposures and sources --------------------------------------------------------------------


def test_every_published_open_dataset_has_an_exposure_on_public_models(manifest):
    nodes = {n["unique_id"]: n for n in manifest["nodes"].values()}
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    problems = []
    for ds in catalog().datasets.values():
        if ds.publish is None or not ds.is_open:
            continue
        exposure = exposures.get(f"ckan_{ds.id}")
        if exposure is None:
            problems.append(f"{ds.id}: no exposure ckan_{ds.id}")
        elif [nodes[u]["name"] for u in exposure["depends_on"]["nodes"]] != [ds.publish.model]:
            problems.append(f"{ds.id}: exposure depends on {exposure['depends_on']['nodes']}")
    for name, exposure in exposures.items():
        for parent in exposure["depends_on"]["nodes"]:
            if nodes[parent].get("access") != "public":
                problems.append(f"exposure {name} depends on {parent}, which is not public")
    assert not problems, "\n".join(problems)


def test_source_freshness_follows_the_catalog(manifest):
    datasets = {(ds.raw_schema, ds.raw_table): ds for ds in catalog().datasets.values()}
    problems = []
    for source in manifest["sources"].values():
        ds = datasets.get((source["schema"], source.get("identifier") or source["name"]))
        where = f"source {source['source_name']}.{source['name']}"
        if ds is None:
            problems.append(f"{where}: no catalog dataset lands in {source['schema']}.{source['name']}")
            continue
        freshness = source["config"].get("freshness") or {}
        got = {k: freshness.get(k) for k in ("warn_after", "error_after")}
        if got != sync.freshness(ds):
            problems.append(
                f"{where}: freshness {got}; the catalog says {ds.update_frequency}: write "
                f"freshness: \"{{{{ var('kho_source_freshness')['{ds.id}'] }}}}\" in its config"
            )
        if (
            source.get("loaded_at_field") != "_loaded_at"
            and source["config"].get("loaded_at_field") != "_loaded_at"
        ):
            problems.append(f"{where}: loaded_at_field is not _loaded_at")
    missing = set(datasets) - {(s["schema"], s["name"]) for s in manifest["sources"].values()}
    problems += [f"dataset {datasets[k].id}: no dbt source for {k[0]}.{k[1]}" for k in sorted(missing)]
    assert not problems, "\n".join(problems)


def test_generated_files_are_up_to_date(manifest):
    project = sync.PROJECT_FILE.read_text(encoding="utf-8")
    stale = [
        str(path.relative_to(REPO))
        for path, text in sync.render(catalog(), manifest, project).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"out of date (run scripts/sync_dbt_from_catalog.py): {stale}"


# --- access and personal data -------------------------------------------------------------------


def test_grants_follow_the_catalog(manifest):
    lineage = model_access(manifest)
    problems = [
        f"{name}: grants {node['config'].get('grants')}, expected select {list(lineage[name].readers)}"
        for name, node in sorted(models(manifest).items())
        if sorted((node["config"].get("grants") or {}).get("select") or []) != sorted(lineage[name].readers)
    ]
    assert not problems, "\n".join(problems)


def test_open_models_declare_no_personal_data(manifest):
    lineage = model_access(manifest)
    problems = []
    for name, node in sorted(models(manifest).items()):
        if OPEN_READER not in lineage[name].readers:
            continue
        for col, spec in node["columns"].items():
            if (spec.get("meta") or {}).get("personal_data") or col in lineage[name].personal_columns:
                problems.append(f"{name}.{col}: personal data in a model open_reader reads")
    assert not problems, "\n".join(problems)


def test_the_restricted_model_is_read_by_its_agency_only(manifest):
    contacts = model_access(manifest)["organic_zone_contacts"]
    assert contacts.classification == "restricted"
    assert contacts.readers == (agency_role("agriculture"),)
    assert model_access(manifest)["fct_crop_production"].readers == (AGENCY_GROUP, OPEN_READER)


# --- the policy itself, on a small made-up project ----------------------------------------------


def _node(name: str, parents: list[str], access: str = "public", meta: dict | None = None) -> dict:
    return {
        "resource_type": "model",
        "package_name": "kho",
        "name": name,
        "fqn": ["kho", "marts", name],
        "schema": "marts",
        "alias": name,
        "access": access,
        "config": {"meta": meta or {}},
        "depends_on": {"nodes": parents},
    }


def _catalog(tmp_path: Path):
    (tmp_path / "agencies.yml").write_text(
        "agencies:\n" + "".join(f"  - {{id: {a}, name_vi: {a}, name_en: {a}}}\n" for a in ("alpha", "beta"))
    )
    for agency, ds, classification in [
        ("alpha", "a_open", "open"),
        ("alpha", "a_restricted", "restricted"),
        ("beta", "b_shared", "shared"),
        ("beta", "b_restricted", "restricted"),
    ]:
        (tmp_path / agency).mkdir(exist_ok=True)
        (tmp_path / agency / f"{ds}.yml").write_text(
            f"id: {ds}\nagency: {agency}\ntitle_vi: t\ntitle_en: t\ndescription_vi: d\ndescription_en: d\n"
            f"classification: {classification}\nlicence: cc-by-4.0\nupdate_frequency: yearly\n"
            "source: {kind: inbox, format: jsonl}\n"
            "columns: [{name: amount, type: numeric}, {name: phone, personal_data: true}]\n"
            "retention_days: 365\n"
        )
    return load_catalog(tmp_path)


def test_readers_follow_the_most_restrictive_dataset(tmp_path):
    cat = _catalog(tmp_path)
    sources = {
        f"source.kho.{ds.agency}.{ds.id}": {"schema": ds.raw_schema, "name": ds.id}
        for ds in cat.datasets.values()
    }
    sources["source.kho.other.unknown"] = {"schema": "raw_other", "name": "unknown"}
    nodes = {
        f"model.kho.{n['name']}": n
        for n in [
            _node("ref_only", []),
            _node("open_one", ["source.kho.alpha.a_open"]),
            _node("open_and_shared", ["source.kho.alpha.a_open", "model.kho.shared_one"]),
            _node("shared_one", ["source.kho.beta.b_shared"]),
            _node("restricted_alpha", ["model.kho.open_one", "source.kho.alpha.a_restricted"]),
            _node("restricted_both", ["source.kho.alpha.a_restricted", "source.kho.beta.b_restricted"]),
            _node("declared_restricted", ["source.kho.alpha.a_open"], meta={"classification": "restricted"}),
            _node("declared_open", ["source.kho.beta.b_shared"], meta={"classification": "open"}),
            _node("unknown_source", ["source.kho.other.unknown"]),
            _node("protected_open", ["source.kho.alpha.a_open"], access="protected"),
        ]
    }
    got = model_access({"metadata": {"project_name": "kho"}, "nodes": nodes, "sources": sources}, cat)
    everyone, agencies = (AGENCY_GROUP, OPEN_READER), (AGENCY_GROUP,)
    expected = {
        "ref_only": ("open", PLATFORM_GROUP, everyone),
        "open_one": ("open", "alpha", everyone),
        "open_and_shared": ("shared", PLATFORM_GROUP, agencies),
        "shared_one": ("shared", "beta", agencies),
        "restricted_alpha": ("restricted", "alpha", ("agency_alpha",)),
        "restricted_both": ("restricted", PLATFORM_GROUP, ()),  # neither agency alone
        "declared_restricted": ("restricted", "alpha", ("agency_alpha",)),
        "declared_open": ("shared", "beta", agencies),  # a model can tighten, never loosen
        "unknown_source": ("restricted", PLATFORM_GROUP, ()),
        "protected_open": ("open", "alpha", ()),  # only public models are read outside the pipeline
    }
    assert {k: (m.classification, m.group, m.readers) for k, m in got.items()} == expected
    assert got["open_one"].personal_columns == ("phone",)
    assert readers_for("public", "restricted", ["alpha", "alpha"]) == ("agency_alpha",)
