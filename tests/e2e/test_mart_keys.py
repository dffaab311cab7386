"""Every published mart's key is its table's primary key in PostgreSQL, as its dbt contract declares, so a
duplicate cannot reach it: the mart suites in expectations/ rely on this and do not check uniqueness."""

from __future__ import annotations

import psycopg
import pytest
import yaml
from psycopg import sql

from kho.catalog import catalog
from kho.settings import REPO

pytestmark = pytest.mark.e2e

PUBLISHED = sorted((ds.id, ds.publish.model) for ds in catalog().datasets.values() if ds.publish is not None)


def contract_key(model: str) -> list[str]:
    """The primary key the model's yml declares (a model constraint, or a column's)."""
    (path,) = (REPO / "dbt_project" / "models").rglob(f"{model}.yml")
    (node,) = [m for m in yaml.safe_load(path.read_text(encoding="utf-8"))["models"] if m["name"] == model]
    for constraint in node.get("constraints", []):
        if constraint["type"] == "primary_key":
            return constraint["columns"]
    return [
        c["name"]
        for c in node["columns"]
        if any(k.get("type") == "primary_key" for k in c.get("constraints", []))
    ]


def table_key(warehouse, model: str) -> list[str]:
    rows = warehouse.execute(
        "select a.attname from pg_constraint c"
        " cross join lateral unnest(c.conkey) with ordinality as k (attnum, position)"
        " join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum"
        " where c.contype = 'p' and c.conrelid = to_regclass(%s) order by k.position",
        [f"marts.{model}"],
    ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize(("dataset_id", "model"), PUBLISHED)
def test_the_mart_refuses_a_duplicate_key(pipeline, warehouse, dataset_id, model):
    key = contract_key(model)
    assert key, f"{model}: its contract declares no primary key"
    assert table_key(warehouse, model) == key
    table = sql.Identifier("marts", model)
    assert warehouse.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0] > 0
    with pytest.raises(psycopg.errors.UniqueViolation), warehouse.transaction():
        warehouse.execute(sql.SQL("insert into {t} select * from {t} limit 1").format(t=table))
    # so the mart suite does not check it again
    suite = yaml.safe_load((REPO / "expectations" / dataset_id / "mart.yml").read_text(encoding="utf-8"))
    assert not [e for e in suite["expectations"] if e["expectation"].endswith("_to_be_unique")]
