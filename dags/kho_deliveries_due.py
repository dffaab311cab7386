"""Daily: is any dataset's delivery overdue? The catalog's update frequency is a deadline: a dataset whose
last delivery is older than its frequency allows (``kho status`` shows it OVERDUE) fails this DAG's task,
and the failure is sent to the alert notifiers (``flow/alerts.py``: alerts.log, e-mail when configured)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from flow.alerts import notifiers


@dag(
    dag_id="deliveries_due",
    schedule="0 6 * * *",
    start_date=datetime(2025, 7, 1),
    catchup=False,
    max_active_runs=1,
    tags=["deadline", "alerts"],
    doc_md=__doc__,
    # A task that could not run (Airflow's API server restarting) is retried; an overdue delivery fails
    # with AirflowFailException, which is never retried: one alert a day.
    default_args={
        "owner": "kho",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(minutes=5),
    },
)
def deliveries_due():
    @task(on_failure_callback=notifiers("deliveries overdue"))
    def overdue_deliveries() -> list[str]:
        """Fail, naming every overdue dataset, if any delivery is overdue."""
        from airflow.sdk.exceptions import AirflowFailException

        from kho.operations.status import overdue

        late = overdue()
        if late:
            raise AirflowFailException("\n".join(late))
        return late

    overdue_deliveries()


deliveries_due()
