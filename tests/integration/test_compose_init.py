"""docker-compose's airflow-init (deploy/airflow/kho_init.py), run without a Docker engine: the script the
image runs, with the variables docker-compose.yml gives it, against this suite's PostgreSQL server. It
prepares the warehouse as `kho up` does: the raw tables, the agency roles the dbt grants name, the grants,
and the Airflow pool the warehouse DAGs use."""

from __future__ import annotations

import os
import subprocess

from kho.catalog import catalog
from kho.conforming import access
from kho.operations.airflow import airflow_env, metadata_url
from kho.settings import REPO


def test_the_compose_init_applies_roles_grants_and_pools(stack, warehouse, tmp_path):
    s, _ = stack
    state = tmp_path / "state"
    state.mkdir()
    # the seeds are loaded in this server already: the init finds them current (a reload would drop the
    # views the other tests' models built on them)
    (state / "dbt-seeds.sha256").write_text((s.home / "dbt-seeds.sha256").read_text())
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        # what docker-compose.yml's x-airflow-common sets (addresses of this suite's services)
        "KHO_HOME": str(state),
        "KHO_POSTGRES_URL": s.postgres_admin_url,
        "KHO_CKAN_URL": s.ckan_url,
        "KHO_REDIS_URL": s.redis_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(s),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url(s),  # the official image has asyncpg
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": s.redis_url,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env["PATH"] = f"{s.venvs / 'main' / 'bin'}:{env['PATH']}"
    result = subprocess.run(
        [str(s.venv_bin("main", "python")), str(REPO / "deploy" / "airflow" / "kho_init.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "roles and grants" in result.stdout
    roles = {r for (r,) in warehouse.execute("select rolname from pg_roles")}
    assert {access.AGENCY_GROUP, access.OPEN_READER} | {
        access.agency_role(a) for a in catalog().agencies
    } <= roles
    for ds in catalog().datasets.values():
        assert warehouse.execute("select to_regclass(%s)", [f"{ds.raw_schema}.{ds.raw_table}"]).fetchone()[0]
    # the readers may use the marts schema (the dbt grants on its tables name these roles)
    assert warehouse.execute(
        "select has_schema_privilege(%s, 'marts', 'usage')", [access.OPEN_READER]
    ).fetchone()[0]
    pools = subprocess.run(
        [str(s.venv_bin("main", "airflow")), "pools", "get", "dbt", "--output", "plain"],
        env={**os.environ, **airflow_env(s)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pools.returncode == 0 and "dbt" in pools.stdout, pools.stderr[-1000:]
