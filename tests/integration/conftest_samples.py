"""A session fixture for tests that read the warehouse built from the sample deliveries, as `kho demo` leaves
it, without the minutes an Airflow run costs: the same functions the landing DAGs call (fetch from the agency
systems' stand-ins, land the inbox), then a real ``dbt build`` of the intermediate models and the KPI marts
with everything upstream of them.

Loaded by the test modules that need it with ``pytest_plugins = ["tests.integration.conftest_samples"]``.
"""

from __future__ import annotations

import shutil

import pytest
from psycopg import sql

from demo import portal_db
from demo.samples import deliver_samples
from flow import land, refused
from kho.catalog import catalog
from kho.conforming.dbt import run_dbt
from kho.delivering import fetch

# Every dataset but intangible_heritage: the KPI marts' and the commune-name datasets.
DATASETS = [
    "admin_procedures",
    "crop_production_commune",
    "crop_statistics",
    "digital_infrastructure",
    "dti_scores",
    "material_prices",
    "organic_zones",
    "tourist_sites",
]


@pytest.fixture(scope="session")
def sample_warehouse(stack, warehouse, tmp_path_factory):
    """The settings of a warehouse holding exactly the sample deliveries of ``DATASETS``, dbt built."""
    s, _ = stack
    portal_db.ensure(s)
    for dataset_id in DATASETS:
        ds = catalog().dataset(dataset_id)
        warehouse.execute(sql.SQL("truncate {}").format(sql.Identifier(ds.raw_schema, ds.raw_table)))
        for table in ("loads", "quarantine"):
            warehouse.execute(
                sql.SQL("delete from {} where dataset = %s").format(sql.Identifier("kho_meta", table)),
                [dataset_id],
            )
        shutil.rmtree(s.inbox_dir / dataset_id, ignore_errors=True)
        deliver_samples(dataset_id, s)  # as `kho demo` drops them
        fetch(ds, s)  # the portal database and the tourist-site API; nothing for inbox datasets
        reports = land(dataset_id, s)
        assert reports and not refused(reports), f"{dataset_id}: {reports}"
    target = tmp_path_factory.mktemp("dbt-target")
    result = run_dbt(
        [
            "build",
            "--select",
            "+path:models/intermediate",
            "+path:models/marts/kpi",
            # only the tests of what this builds: not one that also reads a mart left out
            "--indirect-selection",
            "cautious",
            "--exclude",
            "resource_type:seed",
            "--target-path",
            str(target),
        ],
        s=s,
        check=False,
    )
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
    return s
