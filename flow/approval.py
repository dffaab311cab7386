"""A data steward's approval in the warehouse DAG of a dataset with ``publish.approval: steward``: Airflow 3's
human-in-the-loop ``ApprovalOperator``, asked only when the new deliveries need it
(:mod:`kho.validating.approval`). The steward answers in Airflow's UI (Browse > Required Actions, or the
task's "Required Action" tab) or through its REST API; Approve lets ``publish`` run, Reject skips it (the
delivery stays landed). Every review is recorded in ``kho_meta.approvals``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from kho.validating.approval import TASK_ID

__all__ = ["TASK_ID", "StewardApproval"]
# How long a delivery waits for a steward before the task fails (and the run's failure alert is sent): the
# warehouse DAG runs one at a time, so a later delivery of the dataset waits behind it.
RESPONSE_TIMEOUT = timedelta(days=7)


class StewardApproval(ApprovalOperator):
    """Ask a data steward to approve the dataset's new deliveries when they raised warnings or revised
    figures beyond the threshold; otherwise record that no approval was needed and let publishing go on."""

    def __init__(self, *, dataset_id: str, **kwargs: Any) -> None:
        super().__init__(
            subject=f"{dataset_id}: duyệt công bố / approve publishing",
            response_timeout=RESPONSE_TIMEOUT,
            **kwargs,
        )
        self.dataset_id = dataset_id

    def _review(self, context):
        from kho.validating.approval import review

        return review(self.dataset_id, until=context["dag_run"].start_date)

    def execute(self, context):
        from kho.validating.approval import record

        found = self._review(context)
        if not found.needs_approval:
            why = (
                "no new delivery"
                if not found.load_ids
                else "the quality gate decides (critical failures)"
                if found.critical
                else "no warning, no revision beyond the threshold"
            )
            if found.load_ids and not found.critical:
                record(found, "not needed", run_id=context["dag_run"].run_id)
            self.log.info("%s: published without a steward's approval: %s", self.dataset_id, why)
            return {"decision": "not needed", "reason": why, **found.as_dict()}
        self.subject = found.subject()
        self.body = found.body()
        self.log.info("%s: waiting for a data steward's approval:\n%s", self.dataset_id, self.body)
        return super().execute(context)

    def execute_complete(self, context, event: dict[str, Any]) -> Any:
        """The steward answered: record who decided what, then let ``ApprovalOperator`` go on (Reject skips
        ``publish`` by raising, so the record comes first)."""
        from kho.validating.approval import record

        if "error" in event or not event.get("chosen_options"):  # no answer in time: the task fails
            return super().execute_complete(context=context, event=event)
        approved = list(event["chosen_options"]) == [self.APPROVE]
        user = event.get("responded_by_user") or {}
        if not isinstance(user, dict):  # a HITLUser, as Airflow's models give it
            user = {"id": getattr(user, "id", None), "name": getattr(user, "name", None)}
        who = user.get("name") or user.get("id")
        found = self._review(context)
        record(
            found,
            "approved" if approved else "rejected",
            responded_by=who,
            responded_at=event.get("responded_at"),
            run_id=context["dag_run"].run_id,
        )
        if approved:
            self.log.info("%s: approved by %s: publishing", self.dataset_id, who)
        else:
            self.log.warning(
                "%s: rejected by %s: not published; deliveries %s stay landed",
                self.dataset_id,
                who,
                ", ".join(found.load_ids),
            )
        return super().execute_complete(context=context, event=event)
