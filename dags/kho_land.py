"""One landing DAG per catalog dataset: fetch (pull sources), land waiting deliveries in the raw layer, check them.

Generated from ``catalog/``: adding a dataset means adding its catalog file, not a DAG. Each DAG
updates the dataset's raw Asset, on which the warehouse DAG (``kho_warehouse.py``) is scheduled.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetWatcher, dag, task

from flow.alerts import notifiers
from flow.assets import raw_asset
from flow.inbox import InboxTrigger
from kho.catalog import Dataset, catalog
from kho.settings import settings


def schedule(ds: Dataset):
    """A delivered dataset lands when a complete file appears in its inbox (the triggerer watches it); a
    fetched one (HTTP API, agency database) on its update frequency's schedule."""
    if ds.source.kind != "inbox":
        return ds.schedule
    inbox = settings().inbox_dir / ds.id
    watcher = AssetWatcher(name=f"inbox__{ds.id}", trigger=InboxTrigger(directory=str(inbox)))
    return [Asset(f"kho://inbox/{ds.id}", group="kho-inbox", watchers=[watcher])]


# Every task has an execution timeout. Fetching: the catalog's source.deadline_s, after which the
# connector gives up by itself with a clear error, and a margin. Landing and checking: these defaults.
LAND_TIMEOUT = timedelta(hours=2)
VALIDATE_TIMEOUT = timedelta(minutes=30)
FETCH_MARGIN = timedelta(minutes=2)


def build_land_dag(ds: Dataset):
    @dag(
        dag_id=f"land__{ds.id}",
        schedule=schedule(ds),
        start_date=datetime(2025, 7, 1),
        catchup=False,
        max_active_runs=1,
        tags=[ds.agency, "land", ds.classification],
        doc_md=f"### {ds.title_vi}\n\n{ds.title_en}\n\n{ds.description_vi}\n\n{ds.description_en}\n\n"
        f"Source: `{ds.source.kind}` / `{ds.source.format}`. Catalog file: `catalog/{ds.agency}/{ds.id}.yml`.",
        default_args={
            "owner": ds.agency,
            "on_failure_callback": notifiers(f"{ds.id}: landing failed"),
            "retries": 2,  # after Airflow's default_task_retry_delay (1 minute as Kho starts it), then doubled
            "retry_exponential_backoff": True,
            "max_retry_delay": timedelta(minutes=30),
            "execution_timeout": LAND_TIMEOUT,
        },
    )
    def land_dataset():
        @task(outlets=[raw_asset(ds.id)])
        def land(fetched: str | None = None) -> list[dict]:
            """Land every complete delivery waiting in the inbox (a delivery already landed is skipped). A file
            that cannot be landed now stays in the inbox; if nothing landed, the task fails and is retried.
            ``fetched``: the file the fetch task wrote, complete already."""
            from airflow.sdk.exceptions import AirflowSkipException

            import flow

            reports = flow.land(ds.id, fetched=fetched)
            for r in reports:
                print(f"{r['dataset']}: {r['source_file']}: {r['status']} {r.get('error') or ''}")
            failed = flow.failed(reports)
            if failed and not any(r["status"] == "landed" for r in reports):
                raise RuntimeError("deliveries not landed now:\n" + "\n".join(failed))
            if all(r["status"] == "skipped" for r in reports):
                raise AirflowSkipException("no new delivery")
            return reports

        @task(retries=0, execution_timeout=VALIDATE_TIMEOUT)
        def validate_raw(reports: list[dict]) -> list[dict]:
            """Great Expectations on each new load; refused deliveries, and those left in the inbox for the
            next run, fail the run after the rest landed."""
            from flow import data_docs, failed, refused, validate

            results = [validate(ds.id, "raw", r["load_id"]) for r in reports if r["status"] == "landed"]
            data_docs(results)
            problems = refused(reports) + failed(reports)
            if problems:
                raise ValueError("refused or not landed deliveries:\n" + "\n".join(problems))
            return results

        if ds.source.kind != "inbox":

            @task(execution_timeout=timedelta(seconds=ds.source.deadline_s) + FETCH_MARGIN)
            def fetch() -> str | None:
                """Pull the delivery from the agency's system into the inbox (kho/delivering)."""
                from kho.delivering import fetch as fetch_delivery

                path = fetch_delivery(ds)
                print(f"{ds.id}: fetched {path}")
                return str(path) if path else None

            landed = land(fetch())
        else:
            landed = land()
        validate_raw(landed)

    return land_dataset()


for _ds in catalog().datasets.values():
    build_land_dag(_ds)
