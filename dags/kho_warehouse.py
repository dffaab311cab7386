"""The warehouse DAG (airflow + cosmos): build the dbt project when new raw data landed, then check
each published mart and publish it to CKAN if its quality gate passed.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import reduce

from airflow.sdk import dag, task
from cosmos import ProfileConfig
from cosmos.operators.local import DbtBuildLocalOperator

from flow.assets import raw_asset
from kho.catalog import catalog
from kho.conforming.dbt import dbt_env, dbt_executable, project_dir

DATASETS = catalog().datasets
PUBLISHED = [ds for ds in DATASETS.values() if ds.publish is not None]
AGENCIES = sorted({ds.agency for ds in DATASETS.values()})
# Every task has an execution timeout (the dbt builds of large facts take the longest).
DBT_TIMEOUT = timedelta(hours=3)
CHECK_TIMEOUT = timedelta(minutes=30)  # Great Expectations on a mart; Data Docs
PUBLISH_TIMEOUT = timedelta(hours=1)
SHORT_TIMEOUT = timedelta(minutes=15)  # incremental-model check, withdrawing stale datasets
PROFILE = ProfileConfig(
    profile_name="kho", target_name="warehouse", profiles_yml_filepath=project_dir() / "profiles.yml"
)


def _raw_assets():
    assets = [raw_asset(ds_id) for ds_id in sorted(DATASETS)]
    return reduce(lambda a, b: a | b, assets)


def dbt_build(group: str) -> DbtBuildLocalOperator:
    """``dbt build`` (models and their tests) of one dbt group; the reference seeds are loaded by `kho up`."""
    return DbtBuildLocalOperator(
        task_id=f"dbt_build__{group}",
        project_dir=str(project_dir()),
        profile_config=PROFILE,
        dbt_executable_path=dbt_executable(),
        select=[f"group:{group}"],
        exclude=["resource_type:seed"],
        # The shared models run first: only their own tests then (cautious), not the relationships tests
        # of agency models that point at them (eager), which run with those agencies' builds.
        indirect_selection="cautious" if group == "platform" else "eager",
        env=dbt_env(),
        append_env=True,
        install_deps=False,
        retries=0,
        execution_timeout=DBT_TIMEOUT,
    )


@dag(
    dag_id="warehouse",
    schedule=_raw_assets(),
    start_date=datetime(2025, 7, 1),
    catchup=False,
    max_active_runs=1,
    tags=["warehouse", "dbt", "publish"],
    doc_md=__doc__,
    default_args={
        "retries": 1,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "execution_timeout": CHECK_TIMEOUT,
    },
)
def warehouse():
    @task(retries=0, execution_timeout=SHORT_TIMEOUT)
    def reset_incremental_models() -> list[str]:
        """Incremental models whose code, contract or reference data changed are dropped, to be built whole
        by the builds that follow (kho/conforming/incremental.py)."""
        from kho.conforming.incremental import reset_changed

        return reset_changed()

    platform = dbt_build("platform")
    reset_incremental_models() >> platform
    builds = {agency: dbt_build(agency) for agency in AGENCIES}
    for build in builds.values():
        platform >> build

    @task(retries=1, execution_timeout=SHORT_TIMEOUT)
    def withdraw_stale() -> list[dict]:
        """Datasets removed from the catalog, or no longer open, leave public view (made private)."""
        from flow import withdraw

        return withdraw()

    withdraw_stale()  # independent of the builds: it reads the catalog and CKAN only

    checks = []
    for ds in PUBLISHED:

        @task(task_id=f"validate_mart__{ds.id}", retries=0, execution_timeout=CHECK_TIMEOUT)
        def validate_mart(dataset_id: str = ds.id) -> dict:
            """Great Expectations on the dataset's mart; the result is kept for the gate and `kho status`."""
            from airflow.sdk.exceptions import AirflowSkipException

            from flow import has_landed, validate

            if not has_landed(dataset_id):
                raise AirflowSkipException(
                    f"{dataset_id}: no delivery has landed yet, nothing to check or publish"
                )
            return validate(dataset_id, "mart")

        @task(task_id=f"publish__{ds.id}", retries=2, execution_timeout=PUBLISH_TIMEOUT)
        def publish(result: dict, dataset_id: str = ds.id) -> dict:
            """Publish to CKAN if open and no critical expectation failed (raw or mart)."""
            from flow import publish

            return publish(dataset_id)

        checked = validate_mart()
        builds[ds.agency] >> checked
        publish(checked)
        checks.append(checked)

    @task(trigger_rule="all_done", retries=0, execution_timeout=CHECK_TIMEOUT)
    def data_docs() -> str:
        """The Data Docs pages of this run's mart validations (whichever ran), and the site's index."""
        from airflow.sdk import get_current_context

        from flow import data_docs

        ti = get_current_context()["ti"]
        return data_docs(ti.xcom_pull(task_ids=[f"validate_mart__{ds.id}" for ds in PUBLISHED]) or [])

    checks >> data_docs()


warehouse()
