"""Every task of Kho's DAGs has an execution timeout: a hung source, query or build cannot hold a worker
for ever. The fetch task's comes from the catalog (``source.deadline_s``, plus a margin)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from kho.catalog import catalog
from kho.settings import REPO


@pytest.fixture(scope="module")
def dags(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))  # not the user's ~/airflow
    from airflow.dag_processing.dagbag import DagBag

    bags = [DagBag(dag_folder=str(REPO / "dags" / name)) for name in ("kho_land.py", "kho_warehouse.py")]
    for bag in bags:
        assert not bag.import_errors, bag.import_errors
    return {dag_id: dag for bag in bags for dag_id, dag in bag.dags.items()}


def test_every_task_has_an_execution_timeout(dags):
    assert len(dags) == 2 * len(catalog().datasets)  # a landing and a warehouse DAG per dataset
    missing = [f"{d.dag_id}.{t.task_id}" for d in dags.values() for t in d.tasks if not t.execution_timeout]
    assert missing == []


def test_fetch_timeout_follows_source_deadline(dags):
    for ds in catalog().datasets.values():
        tasks = {t.task_id: t for t in dags[f"land__{ds.id}"].tasks}
        if ds.source.kind == "inbox":
            assert "fetch" not in tasks
            continue
        assert tasks["fetch"].execution_timeout == timedelta(seconds=ds.source.deadline_s) + timedelta(
            minutes=2
        )


def test_a_dataset_builds_its_own_lineage_after_the_shared_models(dags):
    for ds in catalog().datasets.values():
        tasks = {t.task_id: t for t in dags[f"warehouse__{ds.id}"].tasks}
        build = tasks["dbt_build"]
        assert f"source:{ds.agency}.{ds.raw_table}+" in build.select
        assert build.pool == "dbt" and set(build.upstream_task_ids) == {"prepare"}
        if ds.publish is not None:
            assert tasks["validate_mart"].retries == 0  # a failed check is final
            # a steward dataset's publication also waits for its approval (tests/unit/test_approval.py)
            approval = {"steward_approval"} if ds.publish.approval == "steward" else set()
            assert set(tasks["publish"].upstream_task_ids) == {"validate_mart"} | approval
