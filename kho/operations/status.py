"""What `kho status` and the end of `make demo` report, read from ``kho_meta``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from kho.catalog import catalog
from kho.errors import KhoError
from kho.meta import ensure_meta_schema
from kho.operations import supervisor
from kho.settings import Settings, settings
from kho.validating.approval import TASK_ID, latest_decisions
from kho.validating.quality import format_revisions

# How old the last delivery may be before a dataset counts as stale (schedule plus grace).
MAX_AGE = {
    "daily": timedelta(days=2),
    "weekly": timedelta(days=9),
    "monthly": timedelta(days=35),
    "quarterly": timedelta(days=100),
    "yearly": timedelta(days=380),
}


def overdue(s: Settings | None = None, now: datetime | None = None) -> list[str]:
    """The datasets whose delivery is overdue: the last one landed longer ago than its update frequency
    allows (``MAX_AGE``), or none ever landed although a first was due (a dataset of the catalog
    longer than that). One line each, naming the dataset, its last delivery and what was expected."""
    s = s or settings()
    now = now or datetime.now(UTC)
    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        last = dict(
            conn.execute(
                "select dataset, max(finished_at) from kho_meta.loads where status = 'landed' group by dataset"
            ).fetchall()
        )
    lines = []
    for ds in sorted(catalog().datasets.values(), key=lambda d: d.id):
        landed = last.get(ds.id)
        if landed is not None and now - landed > MAX_AGE[ds.update_frequency]:
            due = landed + MAX_AGE[ds.update_frequency]
            lines.append(
                f"{ds.id}: delivery overdue since {due:%Y-%m-%d} (last landed {landed:%Y-%m-%d}, "
                f"expected {ds.update_frequency}; agency {ds.agency})"
            )
    return lines


@dataclass
class DatasetStatus:
    dataset: str
    last_delivery: str
    deliveries: int
    rows_delivered: int
    rows_landed: int
    rows_quarantined: int
    quality: str
    published: str
    freshness: str
    revisions: str | None = None  # how the last delivery revised figures delivered before
    # a steward dataset (catalog publish.approval: steward): waiting for approval since ..., or the last
    # decision (approved / rejected by whom, when)
    approval: str | None = None


def waiting_for_approval(s: Settings | None = None) -> dict[str, datetime] | None:
    """Dataset -> since when its warehouse run waits for a data steward's approval, read from Airflow's REST
    API (its open human-in-the-loop requests); None when Airflow's API does not answer."""
    from kho.operations.airflow_api import Airflow

    try:
        requests = Airflow(s, timeout=10, read_attempts=1).awaiting_input(TASK_ID)
    except (KhoError, OSError, ValueError, KeyError):  # not up, no login yet, not Kho's Airflow
        return None
    found: dict[str, datetime] = {}
    for r in requests:
        dag_id = r["task_instance"]["dag_id"]
        if dag_id.startswith("warehouse__"):
            since = datetime.fromisoformat(r["created_at"].replace("Z", "+00:00"))
            found.setdefault(dag_id.removeprefix("warehouse__"), since)
    return found


def dataset_status(s: Settings | None = None) -> list[DatasetStatus]:
    s = s or settings()
    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        loads = {
            r[0]: r[1:]
            for r in conn.execute("""
            select dataset, count(*) filter (where status = 'landed'),
                   coalesce(sum(rows_delivered) filter (where status = 'landed'), 0),
                   coalesce(sum(rows_landed) filter (where status = 'landed'), 0),
                   coalesce(sum(rows_quarantined) filter (where status = 'landed'), 0),
                   max(finished_at) filter (where status = 'landed')
            from kho_meta.loads group by dataset""")
        }
        last = {
            r[0]: r[1:]
            for r in conn.execute("""
            select distinct on (dataset) dataset, source_file, status, finished_at, error
            from kho_meta.loads order by dataset, finished_at desc""")
        }
        quality: dict[str, list] = {}
        for ds, layer, success, failures, warnings in conn.execute("""
            select distinct on (dataset, layer) dataset, layer, success, critical_failures, warnings
            from kho_meta.quality_runs order by dataset, layer, run_at desc"""):
            quality.setdefault(ds, []).append((layer, success, failures, warnings))
        # The latest raw run that compared its delivery with the previous one (suites with a revisions rule).
        revisions = {
            r[0]: r[1]
            for r in conn.execute("""
            select distinct on (dataset) dataset, statistics -> 'revisions'
            from kho_meta.quality_runs where layer = 'raw' and statistics ? 'revisions'
            order by dataset, run_at desc""")
        }
        pubs = {
            r[0]: r[1:]
            for r in conn.execute("""
            select distinct on (dataset) dataset, status, ckan_url, detail, published_at
            from kho_meta.publications order by dataset, published_at desc""")
        }
        decisions = latest_decisions(conn)
    stewarded = [d for d in catalog().datasets.values() if d.publish and d.publish.approval == "steward"]
    waiting = waiting_for_approval(s) if stewarded else {}
    now = datetime.now(UTC)
    rows = []
    for ds in sorted(catalog().datasets.values(), key=lambda d: d.id):
        n, delivered, landed, quarantined, last_landed = loads.get(ds.id, (0, 0, 0, 0, None))
        lf = last.get(ds.id)
        last_text = f"{lf[0]} ({lf[1]}, {lf[2]:%Y-%m-%d %H:%M})" if lf else "never"
        q = quality.get(ds.id, [])
        if not q:
            q_text = "not checked"
        else:
            parts = []
            for layer, success, failures, warnings in q:
                verdict = "passed" if success else "FAILED: " + "; ".join(f["summary"] for f in failures[:3])
                if warnings:
                    verdict += f" ({len(warnings)} warnings)"
                parts.append(f"{layer} {verdict}")
            q_text = ", ".join(parts)
        pub = pubs.get(ds.id)
        if not ds.is_open:
            pub_text = f"not published ({ds.classification})"
        elif pub:
            pub_text = f"{pub[0]} {pub[1] or ''}".strip() if pub[0] != "blocked" else f"blocked: {pub[2]}"
        else:
            pub_text = "not yet"
        approval = None
        if ds.publish and ds.publish.approval == "steward":
            decided = decisions.get(ds.id)
            if waiting is None:
                approval = "unknown: Airflow's API does not answer"
            elif ds.id in waiting:
                approval = f"waiting for approval since {waiting[ds.id]:%Y-%m-%d %H:%M}"
                pub_text = f"{approval} (before: {pub_text})"
            elif decided:
                approval = f"{decided[0]} by {decided[1] or '?'} {decided[2]:%Y-%m-%d %H:%M}"
                if decided[0] == "rejected" and (not pub or pub[3] < decided[2]):
                    pub_text = f"{approval}, not published (before: {pub_text})"
        if last_landed is None:
            fresh = "no data"
        elif now - last_landed > MAX_AGE[ds.update_frequency]:
            due = last_landed + MAX_AGE[ds.update_frequency]
            fresh = (
                f"OVERDUE since {due:%Y-%m-%d} (last {last_landed:%Y-%m-%d}, expected {ds.update_frequency})"
            )
        else:
            fresh = f"fresh ({ds.update_frequency})"
        revised = revisions.get(ds.id)
        rows.append(
            DatasetStatus(
                ds.id,
                last_text,
                n,
                delivered,
                landed,
                quarantined,
                q_text,
                pub_text,
                fresh,
                (format_revisions(revised) or "none of the figures delivered before") if revised else None,
                approval,
            )
        )
    return rows


def print_summary(console) -> None:
    """One paragraph per dataset: readable in a terminal of any width and in CI logs."""
    console.print("[bold]Kho: run summary[/]")
    for r in dataset_status():
        console.print(
            f"[bold]{r.dataset}[/]: {r.deliveries} deliveries, {r.rows_delivered:,} rows delivered, "
            f"{r.rows_landed:,} landed, {r.rows_quarantined:,} quarantined\n"
            f"    quality: {r.quality}\n"
            + (f"    revisions: {r.revisions}\n" if r.revisions else "")
            + (f"    approval: {r.approval}\n" if r.approval else "")
            + f"    CKAN: {r.published}\n    freshness: {r.freshness}",
            highlight=False,
        )


def service_states(s: Settings | None = None) -> dict[str, str]:
    """Each service Kho runs on this machine -> its state under supervisord (RUNNING, STARTING, BACKOFF
    while it is restarted, FATAL when it gave up, STOPPED ...). A service declared while supervisord is
    not running (after a reboot, before ``kho up``) is ``STOPPED``; a PostgreSQL of the province's
    (``KHO_POSTGRES_URL``) is ``external``."""
    s = s or settings()
    states = supervisor.status(s)
    for name in supervisor.programs(s):
        states.setdefault(name, "STOPPED")
    if s.external_postgres:
        states["postgres"] = "external"
    return dict(sorted(states.items()))


def services_line(s: Settings | None = None) -> str:
    """One line for ``kho status``: every service and its state."""
    states = service_states(s)
    if not states:
        return "services: none running (`kho up` starts them)"
    return "services: " + ", ".join(f"{name} {state}" for name, state in states.items())
