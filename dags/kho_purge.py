"""Daily: delete delivered files and quarantined rows older than their dataset's retention (``kho purge``).

The catalog's ``retention_days`` (required for datasets with personal data) says how long landing keeps
them; ``kho.landing.purge`` deletes what is older and records it in ``kho_meta.purges``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task


@dag(
    dag_id="kho_purge",
    schedule="@daily",
    start_date=datetime(2025, 7, 1),
    catchup=False,
    max_active_runs=1,
    tags=["purge", "personal-data"],
    doc_md=__doc__,
    default_args={
        "owner": "kho",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
    },
)
def kho_purge():
    @task
    def purge() -> list[dict]:
        """Purge every dataset whose catalog entry sets retention_days."""
        from kho.landing.purge import purge as purge_all

        reports = purge_all()
        for r in reports:
            print(r.summary())
        return [r.as_dict() for r in reports]

    purge()


kho_purge()
