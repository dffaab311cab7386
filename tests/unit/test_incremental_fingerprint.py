"""What makes an incremental model's table stale: its fingerprint changes when anything its rows were computed
with changes (its SQL or contract, a model, seed or macro upstream), and only then."""

from __future__ import annotations

import copy
import shutil

import pytest

from kho.conforming.dbt import project_dir
from kho.conforming.incremental import fingerprint, incremental_models

FACT = "model.kho.fct_crop_production_commune"


def test_the_commune_crop_fact_is_the_incremental_model(manifest):
    assert [m.name for m in incremental_models(manifest, project_dir())] == ["fct_crop_production_commune"]


def test_the_same_project_gives_the_same_fingerprint(manifest):
    assert fingerprint(manifest, FACT, project_dir()) == fingerprint(
        copy.deepcopy(manifest), FACT, project_dir()
    )


@pytest.mark.parametrize(
    "change",
    [
        "the model's SQL",
        "a model upstream",
        "the name-matching macro",
        "a contract column's type",
    ],
)
def test_a_change_to_what_the_rows_come_from_changes_it(manifest, change):
    before = fingerprint(manifest, FACT, project_dir())
    changed = copy.deepcopy(manifest)
    if change == "the model's SQL":
        changed["nodes"][FACT]["checksum"]["checksum"] = "0" * 64
    elif change == "a model upstream":
        changed["nodes"]["model.kho.stg_agriculture__crop_production_commune"]["checksum"]["checksum"] = (
            "0" * 64
        )
    elif change == "the name-matching macro":
        changed["macros"]["macro.kho.kho_match_communes"]["macro_sql"] += "\n-- changed"
    else:
        changed["nodes"][FACT]["columns"]["production_t"]["data_type"] = "double precision"
    assert fingerprint(changed, FACT, project_dir()) != before


def test_a_changed_reference_seed_changes_it(manifest, tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(project_dir(), project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    before = fingerprint(manifest, FACT, project)
    seed = project / "seeds" / "reference" / "ref_commune_aliases.csv"
    seed.write_text(seed.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert fingerprint(manifest, FACT, project) != before


def test_an_unrelated_model_does_not(manifest):
    before = fingerprint(manifest, FACT, project_dir())
    changed = copy.deepcopy(manifest)
    changed["nodes"]["model.kho.fct_material_price"]["checksum"]["checksum"] = "0" * 64
    changed["macros"]["macro.kho.kho_count_commune_names"]["macro_sql"] += "\n-- changed"
    assert fingerprint(changed, FACT, project_dir()) == before
