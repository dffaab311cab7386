"""One warehouse DAG per catalog dataset (airflow + cosmos): when the dataset's raw data changed, build the
lineage of its raw table in dbt (the shared models it needs, its own models and what depends on them),
check its mart and publish it to CKAN if its quality gate passed.

A dataset's failing model, test or gate fails its own run only: its neighbours are built, checked and
published by theirs. The lineages share no model (tests/unit/test_dbt_governance.py), so their builds run
side by side, as many at once as the "dbt" pool has slots; the shared models they read are built first.
Why it works this way: docs/design.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from cosmos import ProfileConfig
from cosmos.operators.local import DbtBuildLocalOperator

from flow.alerts import notifiers
from flow.assets import raw_asset
from kho.catalog import Dataset, catalog
from kho.conforming.dbt import dbt_env, dbt_executable, lineage_selection, parse_cache_dir, project_dir

DBT_POOL = "dbt"
# Every task has an execution timeout (the dbt builds of large facts take the longest).
DBT_TIMEOUT = timedelta(hours=3)
CHECK_TIMEOUT = timedelta(minutes=30)  # Great Expectations on a mart; Data Docs
PUBLISH_TIMEOUT = timedelta(hours=1)
SHORT_TIMEOUT = timedelta(minutes=15)  # the incremental-model check
PROFILE = ProfileConfig(
    profile_name="kho", target_name="warehouse", profiles_yml_filepath=project_dir() / "profiles.yml"
)


def _wait_for_raw_checks(dataset_id: str, timeout_s: float = 1800) -> None:
    """This run started on a landing's raw Asset event, before that landing run's raw check ended; the gate
    reads the latest raw check, so wait until no landing run of the dataset is still going."""
    import time

    from airflow.sdk import get_current_context

    ti = get_current_context()["ti"]
    deadline = time.monotonic() + timeout_s
    while ti.get_dr_count(dag_id=f"land__{dataset_id}", states=["queued", "running"]) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dataset_id}: a landing run is still going after {timeout_s:.0f} s")
        time.sleep(2)


def build_warehouse_dag(ds: Dataset):
    @dag(
        dag_id=f"warehouse__{ds.id}",
        schedule=[raw_asset(ds.id)],
        start_date=datetime(2025, 7, 1),
        catchup=False,
        max_active_runs=1,
        tags=[ds.agency, "warehouse", ds.classification],
        doc_md=f"### {ds.title_vi}\n\n{ds.title_en}\n\n"
        f"Builds `{' '.join(lineage_selection(ds))}` in dbt, then checks and publishes "
        f"`{ds.publish.model if ds.publish else '(not published)'}`"
        + (
            " after a data steward's approval when a delivery has warnings or large revisions."
            if ds.publish and ds.publish.approval == "steward"
            else "."
        ),
        default_args={
            "owner": ds.agency,
            "on_failure_callback": notifiers(f"{ds.id}: warehouse run failed (build, check or quality gate)"),
            "retries": 1,
            "retry_delay": timedelta(seconds=30),
            "retry_exponential_backoff": True,
            "execution_timeout": CHECK_TIMEOUT,
        },
    )
    def warehouse_dataset():
        @task(retries=0, execution_timeout=SHORT_TIMEOUT)
        def prepare() -> dict:
            """Incremental models whose code, contract or reference data changed are dropped, to be built
            whole; the shared models are built if missing or changed (kho/conforming/shared.py)."""
            from kho.conforming.shared import prepare as prepare_warehouse

            return prepare_warehouse()

        build = DbtBuildLocalOperator(
            task_id="dbt_build",
            project_dir=str(project_dir()),
            profile_config=PROFILE,
            dbt_executable_path=dbt_executable(),
            select=lineage_selection(ds),
            exclude=["resource_type:seed"],
            # a test runs when all its models are in this build or upstream of it: a neighbour's
            # relationship test to a shared dimension is the neighbour's, not this dataset's
            indirect_selection="buildable",
            env=dbt_env(),
            append_env=True,
            install_deps=False,
            cache_dir=parse_cache_dir(),  # dbt's partial parsing between builds
            retries=0,
            pool=DBT_POOL,
            emit_datasets=False,  # the dataset's raw Asset is what the DAGs are scheduled on
            execution_timeout=DBT_TIMEOUT,
        )
        prepare() >> build
        if ds.publish is None:
            return

        @task(retries=0)
        def validate_mart() -> dict:
            """Great Expectations on the dataset's mart; the result is kept for the gate and `kho status`."""
            from airflow.sdk.exceptions import AirflowSkipException

            from flow import has_landed, validate

            if not has_landed(ds.id):
                raise AirflowSkipException(
                    f"{ds.id}: no delivery has landed yet, nothing to check or publish"
                )
            return validate(ds.id, "mart")

        @task(retries=2, execution_timeout=PUBLISH_TIMEOUT)
        def publish(result: dict) -> dict:
            """Publish to CKAN if open and no critical expectation failed (raw or mart). A failed gate is final:
            it is not retried (a retry would find the same data)."""
            from airflow.sdk.exceptions import AirflowFailException

            from flow import publish as publish_dataset
            from kho.errors import QualityGateError

            _wait_for_raw_checks(ds.id)
            try:
                return publish_dataset(ds.id)
            except QualityGateError as exc:
                raise AirflowFailException(str(exc)) from None

        @task(trigger_rule="all_done", retries=0)
        def data_docs(result: dict | None) -> str:
            """The Data Docs page of this run's mart validation, and the site's index."""
            from flow import data_docs as render

            return render([result])

        checked = validate_mart()
        build >> checked
        published = publish(checked)
        data_docs(checked)
        if ds.publish.approval == "steward":
            # a delivery with warnings or large revisions waits for a data steward (flow/approval.py)
            from flow.approval import TASK_ID, StewardApproval

            approval = StewardApproval(
                task_id=TASK_ID,
                dataset_id=ds.id,
                retries=0,  # a retry would ask again
                execution_timeout=SHORT_TIMEOUT,  # the review; the wait is bounded by its response timeout
                notifiers=notifiers(f"{ds.id}: a delivery waits for a data steward's approval"),
                doc_md="Approve: published to CKAN. Reject: the deliveries stay landed, not published.",
            )
            checked >> approval >> published

    return warehouse_dataset()


for _ds in catalog().datasets.values():
    build_warehouse_dag(_ds)
