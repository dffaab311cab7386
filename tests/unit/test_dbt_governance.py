"""The dbt project as its community expects it (dbt-project-evaluator's rules, written out here), and the
governance Kho derives from the catalog: groups, grants, exposures, source freshness, personal data.

Reads the manifest of a fresh ``dbt parse`` (no database needed). Each test lists every offender at once.

dbt packages cannot be installed here, so dbt-project-evaluator's rule families are applied as its models
define them: naming and structure (prefixes and folders), testing (primary keys it recognises), and the DAG
(model fanout, source fanout, rejoining of upstream concepts, root models). Its variables are read from
``vars`` of dbt_project.yml where Kho sets them (``primary_key_test_macros``), else its defaults. Where a
rule does not fit, the node says why in its own yml: ``meta: {evaluator_exceptions: {<the evaluator's model
of that rule>: "Vietnamese / English"}}``, the reason the evaluator's exceptions seed would carry.
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

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
                    "macros": node["depends_on"].get("macros", []),
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


# --- dbt-project-evaluator's rules, on the manifest -------------------------------------------------

EVALUATOR_DEFAULTS = {
    "primary_key_test_macros": [
        ["dbt.test_unique", "dbt.test_not_null"],
        ["dbt_utils.test_unique_combination_of_columns"],
    ],
    "models_fanout_threshold": 3,
}
# The evaluator's model types: the folder that holds them and the prefixes they may have ("other": none).
MODEL_TYPES = {
    "base": ("base", ("base_",)),
    "staging": ("staging", ("stg_",)),
    "intermediate": ("intermediate", ("int_",)),
    "marts": ("marts", ("fct_", "dim_")),
    "other": (None, ("rpt_",)),
}


def evaluator_var(name: str):
    project = yaml.safe_load(sync.PROJECT_FILE.read_text(encoding="utf-8"))
    return (project.get("vars") or {}).get(name, EVALUATOR_DEFAULTS[name])


def exception_reason(node: dict, rule: str) -> str | None:
    """Why ``node`` is an exception to the evaluator's ``rule`` (its fct_ model), if its yml says so."""
    return (((node.get("config") or {}).get("meta") or {}).get("evaluator_exceptions") or {}).get(rule)


def excepted(node: dict, rule: str) -> bool:
    return bilingual(exception_reason(node, rule))


@dataclass
class Dag:
    """The evaluator's graph: models, seeds, snapshots, sources and exposures (not tests), with their edges."""

    nodes: dict[str, dict]
    parents: dict[str, set[str]]
    children: dict[str, set[str]]

    def name(self, unique_id: str) -> str:
        node = self.nodes[unique_id]
        return f"{node['source_name']}.{node['name']}" if node["resource_type"] == "source" else node["name"]

    def of_type(self, *types: str) -> list[str]:
        return sorted(u for u, n in self.nodes.items() if n["resource_type"] in types)


def dag(manifest: dict) -> Dag:
    nodes = {u: n for u, n in manifest["nodes"].items() if n["resource_type"] != "test"}
    nodes |= manifest["sources"] | manifest["exposures"]
    parents = {u: set(n.get("depends_on", {}).get("nodes", [])) & nodes.keys() for u, n in nodes.items()}
    children: dict[str, set[str]] = {u: set() for u in nodes}
    for child, ps in parents.items():
        for parent in ps:
            children[parent].add(child)
    return Dag(nodes, parents, children)


def folder_type(node: dict) -> str | None:
    """The model type of the folder nearest the file among the evaluator's (models/marts/kpi/x.sql: marts)."""
    folders = node["original_file_path"].replace("\\", "/").split("/")[:-1]
    found = [(i, t) for t, (f, _) in MODEL_TYPES.items() for i, d in enumerate(folders) if f and d == f]
    return max(found)[1] if found else None


def model_type(node: dict) -> str:
    """The evaluator's: by the name's prefix, else by the folder, else 'other'."""
    prefix = node["name"].split("_")[0] + "_"
    by_prefix = next((t for t, (_, prefixes) in MODEL_TYPES.items() if prefix in prefixes), None)
    return by_prefix or folder_type(node) or "other"


def naming_offenders(manifest: dict) -> list[str]:
    """fct_model_naming_conventions: a model's prefix is one of its model type's."""
    problems = []
    for name, node in sorted(models(manifest).items()):
        prefix, kind = name.split("_")[0] + "_", model_type(node)
        if prefix not in MODEL_TYPES[kind][1] and not excepted(node, "fct_model_naming_conventions"):
            problems.append(
                f"{name}: prefix {prefix!r}; a {kind} model is named {' or '.join(MODEL_TYPES[kind][1])}"
            )
    return problems


def directory_offenders(manifest: dict) -> list[str]:
    """fct_model_directories: a model sits in its type's folder; a staging model in staging/<its source>/."""
    graph = dag(manifest)
    problems = []
    for unique_id in graph.of_type("model"):
        node = graph.nodes[unique_id]
        if excepted(node, "fct_model_directories"):
            continue
        kind, folder = model_type(node), folder_type(node)
        if folder is not None and kind != folder:
            problems.append(
                f"{node['original_file_path']}: model type {kind} by its name, {folder} by its folder"
            )
        if kind == "staging":
            folders = node["original_file_path"].split("/")[:-1]
            for parent in sorted(graph.parents[unique_id]):
                source = graph.nodes[parent]
                if source["resource_type"] == "source" and source["source_name"] not in folders:
                    problems.append(
                        f"{node['original_file_path']}: reads source {graph.name(parent)}, "
                        f"not in staging/{source['source_name']}/"
                    )
    return problems


def recognised_primary_key(node: dict, tests: list[dict], test_macros: list[list[str]]) -> bool:
    """fct_missing_primary_key_tests: on one column (or, column-less, on the model) every test of one set
    of ``primary_key_test_macros``, or a unique test and a not_null constraint."""
    by_column: dict[str | None, list[set[str]]] = defaultdict(list)
    for test in tests:
        by_column[test["column"]].append(set(test["macros"]))
    for column, macros in by_column.items():
        for test_set in test_macros:
            if sum(any(f"macro.{m}" in used for m in test_set) for used in macros) >= len(test_set):
                return True
        unique = sum("macro.dbt.test_unique" in used for used in macros)
        constraints = ((node["columns"].get(column) or {}).get("constraints") or []) if column else []
        if unique + any(c.get("type") == "not_null" for c in constraints) >= 2:
            return True
    return False


def primary_key_offenders(manifest: dict) -> list[str]:
    tests, test_macros = data_tests_of(manifest), evaluator_var("primary_key_test_macros")
    return [
        name
        for name, node in sorted(models(manifest).items())
        if not recognised_primary_key(node, tests.get(name, []), test_macros)
        and not excepted(node, "fct_missing_primary_key_tests")
    ]


def model_fanout_offenders(manifest: dict) -> list[str]:
    """fct_model_fanout: a node with models_fanout_threshold or more direct children that are leaf models
    (models nothing, not even an exposure, depends on). Counted as the evaluator's SQL counts (>=)."""
    graph, threshold = dag(manifest), int(evaluator_var("models_fanout_threshold"))
    leaves = {u for u in graph.of_type("model") if not graph.children[u]}
    problems = []
    for unique_id, children in sorted(graph.children.items()):
        leaf_children = sorted(graph.name(c) for c in children & leaves)
        if len(leaf_children) >= threshold and not excepted(graph.nodes[unique_id], "fct_model_fanout"):
            problems.append(f"{graph.name(unique_id)}: {len(leaf_children)} leaf children {leaf_children}")
    return problems


def source_fanout_offenders(manifest: dict) -> list[str]:
    """fct_source_fanout and fct_unused_sources: every source table is read by exactly one model."""
    graph = dag(manifest)
    model_ids = set(graph.of_type("model"))
    problems = []
    for unique_id in graph.of_type("source"):
        readers = sorted(graph.name(c) for c in graph.children[unique_id] & model_ids)
        if len(readers) != 1 and not excepted(graph.nodes[unique_id], "fct_source_fanout"):
            problems.append(f"source {graph.name(unique_id)}: read by {readers or 'no model'}")
    return problems


def rejoining_offenders(manifest: dict) -> list[str]:
    """fct_rejoining_of_upstream_concepts: a node that is a direct parent of a model and also its parent's
    parent, through a model with no other child (exposures aside): the child could read that model alone."""
    graph = dag(manifest)
    kept = {u for u, n in graph.nodes.items() if n["resource_type"] not in ("exposure", "metric")}
    children = {u: graph.children[u] & kept for u in kept}
    problems = []
    for parent in sorted(kept):
        for between in sorted(children[parent]):
            if len(children[between]) != 1:
                continue
            (child,) = children[between]
            if child in children[parent] and not excepted(
                graph.nodes[child], "fct_rejoining_of_upstream_concepts"
            ):
                problems.append(
                    f"{graph.name(child)} reads {graph.name(parent)} and {graph.name(between)}, "
                    f"which already reads {graph.name(parent)} and feeds only {graph.name(child)}"
                )
    return problems


def root_model_offenders(manifest: dict) -> list[str]:
    """fct_root_models: a model with no parent (no ref, no source): a seed, or a documented exception."""
    graph = dag(manifest)
    return [
        graph.name(u)
        for u in graph.of_type("model")
        if not graph.parents[u] and not excepted(graph.nodes[u], "fct_root_models")
    ]


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


# --- dbt-project-evaluator: naming and structure -----------------------------------------------------


def test_model_names_have_their_layers_prefix(manifest):
    problems = naming_offenders(manifest)
    assert not problems, "model naming (fct_model_naming_conventions):\n" + "\n".join(problems)


def test_models_sit_in_their_layers_folder(manifest):
    problems = directory_offenders(manifest)
    assert not problems, "model directories (fct_model_directories):\n" + "\n".join(problems)


# --- dbt-project-evaluator: testing ----------------------------------------------------------------


def test_every_model_has_a_primary_key_test_the_evaluator_recognises(manifest):
    missing = primary_key_offenders(manifest)
    assert not missing, (
        "models whose primary key test the evaluator does not recognise (fct_missing_primary_key_tests): "
        f"{missing}; unique + not_null on one column, or a test listed in vars primary_key_test_macros "
        "of dbt_project.yml"
    )


# --- dbt-project-evaluator: modeling (the DAG) ----------------------------------------------------------


def test_no_model_fans_out_into_leaf_models(manifest):
    problems = model_fanout_offenders(manifest)
    assert not problems, "model fanout (fct_model_fanout):\n" + "\n".join(problems)


def test_every_source_table_has_one_staging_model(manifest):
    problems = source_fanout_offenders(manifest)
    assert not problems, "source fanout (fct_source_fanout, fct_unused_sources):\n" + "\n".join(problems)


def test_no_model_rejoins_an_upstream_concept(manifest):
    problems = rejoining_offenders(manifest)
    assert not problems, "rejoining of upstream concepts (fct_rejoining_of_upstream_concepts):\n" + "\n".join(
        problems
    )


def test_root_models_are_documented_exceptions(manifest):
    roots = root_model_offenders(manifest)
    assert not roots, (
        f"models with no parent (fct_root_models): {roots}; make their rows a seed, or say why in the "
        "model's yml: config: {meta: {evaluator_exceptions: {fct_root_models: 'Vietnamese / English'}}}"
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
    contacts = model_access(manifest)["dim_organic_zone_contact"]
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


def _dag_manifest() -> dict:
    """A made-up project with one offence against each of the evaluator's rules, and one documented root."""

    def model(path: str, parents: list[str], meta: dict | None = None, columns: dict | None = None) -> dict:
        name = path.rsplit("/", 1)[1].removesuffix(".sql")
        return {
            "unique_id": f"model.kho.{name}",
            "resource_type": "model",
            "package_name": "kho",
            "name": name,
            "original_file_path": f"models/{path}",
            "config": {"meta": meta or {}},
            "columns": columns or {},
            "depends_on": {"nodes": parents},
        }

    def test(name: str, model_id: str, macro: str, column: str | None = None) -> dict:
        return {
            "unique_id": f"test.kho.{name}",
            "resource_type": "test",
            "package_name": "kho",
            "name": name,
            "attached_node": model_id,
            "column_name": column,
            "test_metadata": {"name": macro.rsplit("test_", 1)[1], "kwargs": {}},
            "depends_on": {"nodes": [model_id], "macros": [f"macro.{macro}"]},
        }

    sources = {
        f"source.kho.a.{t}": {"resource_type": "source", "source_name": "a", "name": t, "config": {}}
        for t in ("t1", "t2")
    }
    reason = {"evaluator_exceptions": {"fct_root_models": "Lịch sinh ra. / A generated calendar."}}
    nodes = [
        model("staging/a/stg_a__t1.sql", ["source.kho.a.t1"]),
        model("staging/b/stg_a__t1_again.sql", ["source.kho.a.t1"]),  # source fanout; not in staging/a/
        model("marts/dim_unit.sql", []),  # a root
        model("marts/dim_calendar.sql", [], meta=reason),  # a documented root
        model("marts/fct_sales.sql", ["model.kho.dim_unit", "model.kho.stg_a__t1"]),
        model("marts/kpi_sales.sql", ["model.kho.dim_unit", "model.kho.fct_sales"]),  # name; rejoins dim_unit
        model("marts/fct_one.sql", ["model.kho.dim_unit", "model.kho.dim_calendar"]),
        model(
            "marts/int_two.sql", ["model.kho.dim_unit", "model.kho.dim_calendar"]
        ),  # an int_ model in marts
        model("marts/fct_three.sql", ["model.kho.stg_a__t1_again"], columns={"id": {"constraints": []}}),
    ]
    tests = [
        test("unique_fct_sales_id", "model.kho.fct_sales", "dbt.test_unique", "id"),
        test("not_null_fct_sales_id", "model.kho.fct_sales", "dbt.test_not_null", "id"),
        test("combo_fct_one", "model.kho.fct_one", "kho.test_unique_combination_of_columns"),
        test("combo_kpi_sales", "model.kho.kpi_sales", "dbt_utils.test_unique_combination_of_columns"),
        test("unique_fct_three_id", "model.kho.fct_three", "dbt.test_unique", "id"),  # no not_null
    ]
    return {
        "metadata": {"project_name": "kho"},
        "nodes": {n["unique_id"]: n for n in nodes + tests},
        "sources": sources,
        "exposures": {},
    }


def test_the_evaluator_rules_find_each_offence():
    manifest = _dag_manifest()
    assert naming_offenders(manifest) == ["kpi_sales: prefix 'kpi_'; a marts model is named fct_ or dim_"]
    assert directory_offenders(manifest) == [
        "models/marts/int_two.sql: model type intermediate by its name, marts by its folder",
        "models/staging/b/stg_a__t1_again.sql: reads source a.t1, not in staging/a/",
    ]
    # Kho's var: its own combination test counts, dbt_utils' (not installed) does not
    assert primary_key_offenders(manifest) == [
        "dim_calendar",
        "dim_unit",
        "fct_three",
        "int_two",
        "kpi_sales",
        "stg_a__t1",
        "stg_a__t1_again",
    ]
    assert model_fanout_offenders(manifest) == [
        "dim_unit: 3 leaf children ['fct_one', 'int_two', 'kpi_sales']"
    ]
    assert source_fanout_offenders(manifest) == [
        "source a.t1: read by ['stg_a__t1', 'stg_a__t1_again']",
        "source a.t2: read by no model",
    ]
    assert rejoining_offenders(manifest) == [
        "kpi_sales reads dim_unit and fct_sales, which already reads dim_unit and feeds only kpi_sales"
    ]
    assert root_model_offenders(manifest) == ["dim_unit"]
    # a constraint counts as the not_null of a unique column
    manifest["nodes"]["model.kho.fct_three"]["columns"]["id"]["constraints"] = [{"type": "not_null"}]
    assert "fct_three" not in primary_key_offenders(manifest)
