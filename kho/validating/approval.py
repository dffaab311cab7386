"""A data steward approves what the rules cannot decide. A dataset whose catalog entry says
``publish.approval: steward`` is published only after a person approved its new deliveries when they raised
warnings (raw or mart) or revised figures beyond the raw suite's ``revisions.warn_above``; with no finding,
or with ``approval: automatic``, it is published as before. Critical failures are the gate's
(:mod:`kho.validating.gate`): nobody is asked to approve what cannot go out.

Each review is recorded in ``kho_meta.approvals``: the deliveries (load ids) it covered, what was found,
the decision (``approved``, ``rejected``, ``not needed``), who gave it and when. A delivery is reviewed
until it has been approved or found to need no approval: a rejected delivery stays landed, unpublished, and
its findings are shown again with the next delivery, since publishing that one would carry its figures too.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import psycopg

from kho.catalog import catalog
from kho.meta import ensure_meta_schema
from kho.settings import Settings, settings
from kho.validating.gate import gate_failures
from kho.validating.quality import REVISIONS_QUOTED

# The warehouse DAG's task that asks (flow/approval.py); `kho status` looks for its open requests.
TASK_ID = "steward_approval"
Decision = Literal["approved", "rejected", "not needed"]
DECISIONS: tuple[Decision, ...] = ("approved", "rejected", "not needed")
# How many findings the approval's body lists (the rest are counted); Data Docs has them all.
FINDINGS_LISTED = 20


@dataclass(frozen=True)
class Review:
    """What a steward is asked to judge: the dataset's deliveries not reviewed yet, the warnings of their raw
    validations and of the mart's latest one, and how they revised figures delivered before."""

    dataset: str
    policy: Literal["automatic", "steward"]
    load_ids: list[str] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)  # {"layer", "summary", "why"}
    revisions: dict[str, Any] | None = None  # revised, beyond_threshold, warn_above, largest
    critical: list[str] = field(default_factory=list)  # the gate's failures: publishing stops there

    @property
    def revised_beyond_threshold(self) -> int:
        return int((self.revisions or {}).get("beyond_threshold") or 0)

    @property
    def needs_approval(self) -> bool:
        """Does publishing wait for a steward? Only for a steward dataset, only for new deliveries, only when
        they raised a warning or revised figures beyond the threshold, and never when the gate blocks."""
        return (
            self.policy == "steward"
            and bool(self.load_ids)
            and not self.critical
            and bool(self.warnings or self.revised_beyond_threshold)
        )

    def subject(self) -> str:
        return (
            f"{self.dataset}: duyệt công bố {len(self.load_ids)} lần nạp có cảnh báo"
            f" / approve publishing {len(self.load_ids)} deliveries with warnings"
        )

    def body(self) -> str:
        """Markdown for the Airflow UI: the findings and the largest revisions, Vietnamese first, English
        second. A steward approves (published) or rejects (stays landed, not published)."""
        loads = ", ".join(f"`{x}`" for x in self.load_ids)
        listed = self.warnings[:FINDINGS_LISTED]
        more = len(self.warnings) - len(listed)
        findings = [
            f"- {w['layer']}: {w['summary']}" + (f" ({w['why']})" if w.get("why") else "") for w in listed
        ]
        if more:
            findings.append(f"- … {more} cảnh báo khác / more warnings (Data Docs)")
        revised = self.revisions or {}
        largest = [
            f"| {', '.join(str(k) for k in r['key'])} | {r['column']} | {r['previous']} | {r['new']} | {_change(r)} |"
            for r in revised.get("largest", [])[:REVISIONS_QUOTED]
        ]
        lines = [
            f"**{self.dataset}**: lần nạp / deliveries {loads}",
            "",
            "### Cảnh báo / Findings",
            *(findings or ["- (không có / none)"]),
        ]
        if revised.get("revised"):
            threshold = f"{revised['warn_above']:.0%}"
            lines += [
                "",
                "### Số liệu đã công bố bị sửa / Revisions of figures delivered before",
                f"{revised['revised']:,} số liệu bị sửa, {revised['beyond_threshold']:,} số liệu thay đổi quá {threshold}"
                f" / {revised['revised']:,} figures revised, {revised['beyond_threshold']:,} by more than {threshold}.",
                "",
                "| khóa / key | cột / column | trước / before | nay / now | thay đổi / change |",
                "|---|---|---|---|---|",
                *largest,
            ]
        lines += [
            "",
            "**Approve**: công bố lên cổng dữ liệu mở / published to the open-data portal. "
            "**Reject**: dữ liệu vẫn được lưu trong kho nhưng không công bố / stays landed, not published.",
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "policy": self.policy,
            "load_ids": self.load_ids,
            "warnings": self.warnings,
            "revisions": self.revisions,
            "critical": self.critical,
            "needs_approval": self.needs_approval,
        }


def _change(r: dict[str, Any]) -> str:
    if r.get("new") == "None":
        return "rút bỏ / withdrawn"
    if r.get("change") is None:
        return "từ 0 / from 0"
    return f"{r['change']:+.0%}"


def merge_revisions(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The revisions of several deliveries as one: counts added, the largest changes of all."""
    if not found:
        return None
    largest = sorted(
        (r for f in found for r in f.get("largest", [])),
        key=lambda r: (r.get("change") is not None, -abs(r.get("change") or 0)),
    )
    return {
        "revised": sum(f.get("revised", 0) for f in found),
        "beyond_threshold": sum(f.get("beyond_threshold", 0) for f in found),
        "warn_above": found[-1].get("warn_above"),
        "largest": largest[:REVISIONS_QUOTED],
    }


def review(dataset_id: str, until: datetime | None = None, s: Settings | None = None) -> Review:
    """The dataset's deliveries not reviewed yet (landed before ``until``, the warehouse run's start: what its
    build read), with their findings, the mart's latest warnings and the gate's failures."""
    s = s or settings()
    ds = catalog().dataset(dataset_id)
    policy = ds.publish.approval if ds.publish else "automatic"
    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        load_ids = [
            r[0]
            for r in conn.execute(
                """
                select load_id from kho_meta.loads l
                where dataset = %(ds)s and status = 'landed'
                  and (%(until)s::timestamptz is null or coalesce(finished_at, started_at) <= %(until)s)
                  and not exists (
                      select from kho_meta.approvals a
                      where a.dataset = l.dataset and a.decision in ('approved', 'not needed')
                        and l.load_id = any(a.load_ids))
                order by coalesce(finished_at, started_at), load_id
                """,
                {"ds": dataset_id, "until": until},
            )
        ]
        raw = conn.execute(
            """
            select distinct on (load_id) load_id, warnings, statistics -> 'revisions'
            from kho_meta.quality_runs
            where dataset = %s and layer = 'raw' and load_id = any(%s)
            order by load_id, run_at desc
            """,
            [dataset_id, load_ids],
        ).fetchall()
        mart = conn.execute(
            "select warnings from kho_meta.quality_runs where dataset = %s and layer = 'mart'"
            " order by run_at desc limit 1",
            [dataset_id],
        ).fetchone()
    order = {x: i for i, x in enumerate(load_ids)}
    raw.sort(key=lambda r: order[r[0]])
    warnings = [
        {"layer": f"raw {load_id}", "summary": w.get("summary", ""), "why": w.get("why", "")}
        for load_id, found, _ in raw
        for w in found
    ]
    if load_ids and mart:
        warnings += [
            {"layer": "mart", "summary": w.get("summary", ""), "why": w.get("why", "")} for w in mart[0]
        ]
    return Review(
        dataset_id,
        policy,
        load_ids,
        warnings,
        merge_revisions([r for _, _, r in raw if r]),
        gate_failures(dataset_id, s) if load_ids else [],
    )


def record(
    found: Review,
    decision: Decision,
    responded_by: str | None = None,
    responded_at: datetime | None = None,
    run_id: str | None = None,
    s: Settings | None = None,
) -> None:
    """One ``kho_meta.approvals`` row: the deliveries reviewed, what was found, the decision, who and when."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    s = s or settings()
    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        conn.execute(
            """
            insert into kho_meta.approvals
                (dataset, decision, load_ids, findings, revisions, responded_by, responded_at, airflow_run_id)
            values (%s, %s, %s, %s, %s, %s, coalesce(%s, now()), %s)
            """,
            [
                found.dataset,
                decision,
                found.load_ids,
                json.dumps(found.warnings, ensure_ascii=False),
                json.dumps(found.revisions, ensure_ascii=False) if found.revisions else None,
                responded_by,
                responded_at,
                run_id,
            ],
        )


def latest_decisions(conn: psycopg.Connection) -> dict[str, tuple[str, str | None, datetime]]:
    """Dataset -> its latest steward decision (approved or rejected): (decision, who, when)."""
    return {
        r[0]: r[1:]
        for r in conn.execute("""
            select distinct on (dataset) dataset, decision, responded_by, responded_at
            from kho_meta.approvals where decision in ('approved', 'rejected')
            order by dataset, responded_at desc""")
    }
