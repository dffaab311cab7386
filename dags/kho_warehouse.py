"""The warehouse DAG (airflow + cosmos): build the dbt project when new raw data landed, then check
each published mart and publish it to CKAN if its quality gate passed.

Scheduled on the raw Assets of every catalog dataset. dbt runs through astronomer-cosmos from the
compiled manifest (no ``dbt ls`` while parsing), with the dbt of ``.kho/venvs/dbt``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import reduce

from airflow.sdk import dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, LoadMode, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import TestBehavior, TestIndirectSelection

from kho.assets import raw_asset
from kho.catalog import catalog
from kho.dbt import dbt_env, dbt_executable, manifest_path, project_dir

DATASETS = catalog().datasets
PUBLISHED = [ds for ds in DATASETS.values() if ds.publish is not None]


def _raw_assets():
    assets = [raw_asset(ds_id) for ds_id in sorted(DATASETS)]
    return reduce(lambda a, b: a | b, assets)


@dag(
    dag_id="warehouse",
    schedule=_raw_assets(),
    start_date=datetime(2025, 7, 1),
    catchup=False,
    max_active_runs=1,
    tags=["warehouse", "dbt", "publish"],
    doc_md=__doc__,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": True},
)
def warehouse():
    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(dbt_project_path=project_dir(), manifest_path=manifest_path()),
        profile_config=ProfileConfig(
            profile_name="kho", target_name="warehouse", profiles_yml_filepath=project_dir() / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            dbt_executable_path=dbt_executable(), test_indirect_selection=TestIndirectSelection.BUILDABLE
        ),
        # One `dbt build` per model (run + its tests). The reference seeds are loaded by `kho up` when
        # they change, not on every run: they are static lists, and reloading them costs half a minute.
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD, exclude=["resource_type:seed"]
        ),
        operator_args={"env": dbt_env(), "append_env": True, "install_deps": False},
        default_args={"retries": 0},
    )

    for ds in PUBLISHED:

        @task(task_id=f"validate_mart__{ds.id}", retries=0)
        def validate_mart(dataset_id: str = ds.id) -> dict:
            """Great Expectations on the dataset's mart; the result is kept for the gate and `kho status`."""
            from kho.pipeline import validate

            return validate(dataset_id, "mart")

        @task(task_id=f"publish__{ds.id}", retries=2)
        def publish(result: dict, dataset_id: str = ds.id) -> dict:
            """Publish to CKAN if open and no critical expectation failed (raw or mart)."""
            from kho.pipeline import publish

            return publish(dataset_id)

        checked = validate_mart()
        # Only the dataset's own lineage gates it: a failing model of another agency does not hold it back.
        dbt.tasks_map.get(f"model.kho.{ds.publish.model}", dbt) >> checked
        publish(checked)


warehouse()
