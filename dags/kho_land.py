"""One landing DAG per catalog dataset: fetch (pull sources), land waiting deliveries in the raw layer, check them.

Generated from ``catalog/``: adding a dataset means adding its catalog file, not a DAG. Each DAG
updates the dataset's raw Asset, on which the warehouse DAG (``kho_warehouse.py``) is scheduled.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetWatcher, dag, task

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
            "retries": 2,
            "retry_delay": timedelta(minutes=1),
            "retry_exponential_backoff": True,
            "max_retry_delay": timedelta(minutes=30),
        },
    )
    def land_dataset():
        @task(outlets=[raw_asset(ds.id)])
        def land() -> list[dict]:
            """Land every delivery waiting in the inbox (a delivery already landed is skipped)."""
            from airflow.sdk.exceptions import AirflowSkipException

            import flow

            reports = flow.land(ds.id)
            for r in reports:
                print(f"{r['dataset']}: {r['source_file']}: {r['status']} {r.get('error') or ''}")
            if all(r["status"] == "skipped" for r in reports):
                raise AirflowSkipException("no new delivery")
            return reports

        @task(retries=0)
        def validate_raw(reports: list[dict]) -> list[dict]:
            """Great Expectations on each new load; refused deliveries fail the run after the rest landed."""
            from flow import data_docs, refused, validate

            results = [validate(ds.id, "raw", r["load_id"]) for r in reports if r["status"] == "landed"]
            data_docs(results)
            problems = refused(reports)
            if problems:
                raise ValueError("refused deliveries:\n" + "\n".join(problems))
            return results

        landed = land()
        if ds.source.kind != "inbox":

            @task
            def fetch() -> str | None:
                """Pull the delivery from the agency's system into the inbox (kho/delivering)."""
                from kho.delivering import fetch as fetch_delivery

                path = fetch_delivery(ds)
                print(f"{ds.id}: fetched {path}")
                return str(path) if path else None

            fetch() >> landed
        validate_raw(landed)

    return land_dataset()


for _ds in catalog().datasets.values():
    build_land_dag(_ds)
