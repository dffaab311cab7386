"""fct_crop_production_commune built incrementally is the same table as built whole.

Real dbt and PostgreSQL, in a database of this module's own on the test server (``bench/database.py``,
so the warehouse the other tests build is not touched): the raw table as ``kho.landing.land`` makes it, the
reference seeds, and generated deliveries of the commune crop tables at a small scale (benchmark 9's,
``bench/dbt_incremental.py``: one delivery per year, sheets per season, every commune of the province).
dbt builds the fact whole, a new delivery revises figures already in it and adds new ones, and the
incremental build (a MERGE of the new load's rows) must leave exactly the rows and values a full refresh
of the same data gives.
"""

from __future__ import annotations

import psycopg
import pytest

from bench.database import drop, fresh
from bench.dbt_incremental import (
    GROUPS,
    MODEL,
    SELECT,
    Deliveries,
    Plan,
    communes,
    fact_digest,
    land,
    land_initial,
    prepare,
    province_code,
)
from kho.errors import KhoError

DATABASE = "kho_test_dbt_incremental"


@pytest.fixture(scope="module")
def built(stack, tmp_path_factory):
    """The fact built whole from a few years of deliveries; (settings, dbt, plan, deliveries)."""
    workdir = tmp_path_factory.mktemp("dbt-incremental")
    s = fresh(DATABASE, home=workdir / "home")
    dbt = None
    try:
        dbt = prepare(s, workdir)
        with psycopg.connect(s.warehouse_url) as conn:
            # ~3,000 rows over 2000-2001; the new delivery revises 5% and adds 5% (the end of 2001)
            plan = Plan.make(communes(conn, province_code()), fact_rows=3000, new_share=0.1)
            deliveries = Deliveries(plan)
            land_initial(conn, deliveries)
        dbt("parse", "--quiet")  # the commands below reuse its manifest (one dbt process: DbtSession)
        first = dbt("run", "--select", SELECT, "--full-refresh")
        assert str(first["fact_said"]).startswith("INSERT")  # built whole
        yield s, dbt, plan, deliveries
    finally:
        if dbt is not None:
            dbt.close()
        drop(s)


def test_an_incremental_build_equals_a_full_refresh(built):
    s, dbt, plan, deliveries = built
    with psycopg.connect(s.warehouse_url) as conn:
        before = fact_digest(conn)
        assert before["rows"] == plan.fact_rows(final=False)
        load_id, _ = land(conn, deliveries, plan.new_delivery)
        conn.commit()

    incremental = dbt("run", "--select", SELECT)
    touched = len(plan.new_delivery) * len(GROUPS)
    assert incremental["fact_said"] == f"MERGE {touched}"  # only the new load's rows went through
    with psycopg.connect(s.warehouse_url) as conn:
        merged = fact_digest(conn)
        by_load = dict(
            conn.execute(
                f"select load_id = %s, count(*) from marts.{MODEL} group by 1",  # noqa: S608
                [load_id],
            ).fetchall()
        )
    # the revised figures now come from the new load, the new ones were added, the rest kept theirs
    assert by_load[True] == touched
    assert by_load[False] == plan.fact_rows(final=True) - touched
    assert merged["rows"] == plan.fact_rows(final=True)
    assert merged != before

    full = dbt("run", "--select", SELECT, "--full-refresh")
    assert str(full["fact_said"]).startswith("INSERT")
    with psycopg.connect(s.warehouse_url) as conn:
        assert fact_digest(conn) == merged


def test_a_build_with_nothing_new_changes_nothing(built):
    s, dbt, _, _ = built
    with psycopg.connect(s.warehouse_url) as conn:
        before = fact_digest(conn)
    again = dbt("run", "--select", SELECT)
    assert again["fact_said"] == "MERGE 0"
    with psycopg.connect(s.warehouse_url) as conn:
        assert fact_digest(conn) == before


def test_a_failed_command_in_a_dbt_session_says_why_and_the_next_one_runs(built):
    _, dbt, _, _ = built
    failed = dbt.session.run(["run", "--select", "+no_such_model", "--vars", "{broken"], check=False)
    assert failed.returncode == 1
    assert failed.stdout.strip()  # dbt's own words on what went wrong
    with pytest.raises(KhoError, match="dbt run --select \\+no_such_model"):
        dbt.session.run(["run", "--select", "+no_such_model", "--vars", "{broken"])
    again = dbt("run", "--select", SELECT)
    assert again["fact_said"] == "MERGE 0"
