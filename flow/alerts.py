"""Alerts: what a DAG says when something needs a person (a delivery overdue, a run failed). Every alert is
appended to ``$KHO_HOME/logs/alerts.log`` (the owner's alone); with ``KHO_ALERT_EMAIL`` set (addresses,
comma-separated) it is also mailed through Airflow's SMTP connection (``AIRFLOW_CONN_SMTP_DEFAULT``)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from airflow.sdk import BaseNotifier

from kho.settings import settings


class AlertLog(BaseNotifier):
    """One line per alert in ``alerts.log``: when, which DAG and task, and the message."""

    template_fields = ("message",)

    def __init__(self, message: str = "{{ dag.dag_id }} failed"):
        super().__init__()
        self.message = message

    def notify(self, context) -> None:
        s = settings()
        s.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        ti = context.get("ti")
        where = f"{ti.dag_id}.{ti.task_id}" if ti else context["dag"].dag_id
        reason = str(context.get("exception") or "").strip()
        line = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z {where}: {self.message}" + (
            f": {' | '.join(reason.splitlines())}" if reason else ""
        )
        fd = os.open(s.log_dir / "alerts.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def notifiers(message: str) -> list[BaseNotifier]:
    """The notifiers a DAG's failure callbacks send ``message`` (a Jinja template) to."""
    found: list[BaseNotifier] = [AlertLog(message)]
    to = settings().value("KHO_ALERT_EMAIL")
    if to:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        found.append(
            SmtpNotifier(to=[a.strip() for a in to.split(",") if a.strip()], subject=f"Kho: {message}")
        )
    return found
