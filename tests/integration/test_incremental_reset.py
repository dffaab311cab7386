"""kho.conforming.incremental.reset_changed on the real PostgreSQL: an incremental model's table is dropped (so that dbt
builds it whole) when it was built with other code, or before Kho recorded how; otherwise it is kept."""

from __future__ import annotations

import copy

import pytest

from kho.conforming.incremental import reset_changed

SCHEMA = "kho_test_incremental"
NODE = "model.kho.fct_test_incremental"


def manifest(checksum: str) -> dict:
    """A manifest with one incremental model in a schema of the test's own."""
    return {
        "nodes": {
            NODE: {
                "name": "fct_test_incremental",
                "resource_type": "model",
                "schema": SCHEMA,
                "alias": "fct_test_incremental",
                "config": {"materialized": "incremental", "unique_key": ["id"]},
                "columns": {"id": {"name": "id", "data_type": "integer"}},
                "checksum": {"name": "sha256", "checksum": checksum},
                "depends_on": {"nodes": [], "macros": []},
            }
        },
        "macros": {},
    }


@pytest.fixture
def table(stack, warehouse):
    s, _ = stack

    def create() -> None:
        warehouse.execute(
            f"create table if not exists {SCHEMA}.fct_test_incremental (id integer primary key)"
        )
        warehouse.execute(
            "insert into kho_test_incremental.fct_test_incremental values (1) on conflict do nothing"
        )

    def exists() -> bool:
        return warehouse.execute(
            "select to_regclass(%s) is not null", [f"{SCHEMA}.fct_test_incremental"]
        ).fetchone()[0]

    warehouse.execute(f"drop schema if exists {SCHEMA} cascade")
    warehouse.execute(f"create schema {SCHEMA}")
    warehouse.execute("delete from kho_meta.incremental_models where model = 'fct_test_incremental'")
    yield s, create, exists
    warehouse.execute(f"drop schema if exists {SCHEMA} cascade")
    warehouse.execute("delete from kho_meta.incremental_models where model = 'fct_test_incremental'")


def test_a_table_is_rebuilt_whole_only_when_what_built_it_changed(table, warehouse):
    s, create, exists = table
    messages: list[str] = []
    create()

    # built before Kho recorded how (a warehouse from an earlier version): rebuilt once
    assert reset_changed(s, manifest("a" * 64), echo=messages.append) == ["fct_test_incremental"]
    assert not exists()
    assert "built before Kho recorded how" in messages[-1]

    # dbt builds it whole; the next runs with the same code keep it and its rows
    create()
    assert reset_changed(s, manifest("a" * 64), echo=messages.append) == []
    assert reset_changed(s, copy.deepcopy(manifest("a" * 64)), echo=messages.append) == []
    assert exists()
    assert warehouse.execute("select count(*) from kho_test_incremental.fct_test_incremental").fetchone() == (
        1,
    )

    # its code changed: dropped again, and the new fingerprint recorded
    assert reset_changed(s, manifest("b" * 64), echo=messages.append) == ["fct_test_incremental"]
    assert "code, contract or reference changed" in messages[-1]
    assert not exists()
    create()
    assert reset_changed(s, manifest("b" * 64), echo=messages.append) == []

    # a table dbt has not built yet is nothing to drop
    warehouse.execute(f"drop table {SCHEMA}.fct_test_incremental")
    assert reset_changed(s, manifest("c" * 64), echo=messages.append) == []
    (recorded,) = warehouse.execute(
        "select relation from kho_meta.incremental_models where model = 'fct_test_incremental'"
    ).fetchone()
    assert recorded == f"{SCHEMA}.fct_test_incremental"
