"""Delete what landing keeps of a delivery once the catalog's retention has passed.

Landing keeps every delivered file in the archive (``archive/<dataset>/``, under its sha256) and every
quarantined row with its raw values (``kho_meta.quarantine``). For a dataset whose columns hold personal
data (household names, phone numbers), both hold that data; Decree 13/2023/ND-CP expects it deleted when it
is no longer needed. A catalog entry's ``retention_days`` says how long that is (required when a column is
flagged ``personal_data``). :func:`purge` deletes the archived files older than that (by the time they were
archived) and the quarantined rows older than that (by ``quarantined_at``), and records each dataset's purge
in ``kho_meta.purges``. The landed rows (``raw_*`` tables) and ``kho_meta.loads`` stay: a purged load keeps
its row, with ``archived_path`` cleared.

The CLI (``kho purge``) and the daily DAG (``dags/kho_purge.py``) both call :func:`purge`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from kho.catalog import Dataset, catalog
from kho.errors import KhoError
from kho.meta import ensure_meta_schema
from kho.settings import Settings, settings


class PurgeError(KhoError):
    """A purge could not be carried out (nothing of that dataset's purge was recorded)."""


@dataclass
class PurgeReport:
    """What one dataset's purge deleted (or, in a dry run, would delete)."""

    dataset: str
    retention_days: int
    cutoff: datetime
    dry_run: bool
    files: list[str] = field(default_factory=list)  # archive file names (sha256 + suffix): no personal data
    bytes: int = 0
    quarantine_rows: int = 0

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"{self.dataset}: kept {self.retention_days} days (before {self.cutoff:%Y-%m-%d %H:%M} UTC):"
            f" {verb} {len(self.files)} archived files ({self.bytes:,} bytes)"
            f" and {self.quarantine_rows} quarantined rows"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cutoff": self.cutoff.isoformat(timespec="seconds")}


def _due_files(ds: Dataset, cutoff: datetime, s: Settings) -> list[Path]:
    """The dataset's archived files last written before ``cutoff``."""
    folder = s.archive_dir / ds.id
    if not folder.is_dir():
        return []
    limit = cutoff.timestamp()
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.stat().st_mtime < limit)


def purge_dataset(
    ds: Dataset,
    s: Settings | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PurgeReport:
    """Purge one dataset's archive and quarantine of what is older than its ``retention_days``."""
    if ds.retention_days is None:
        raise PurgeError(f"{ds.id}: the catalog entry sets no 'retention_days', so nothing of it is purged")
    s = s or settings()
    cutoff = (now or datetime.now(UTC)) - timedelta(days=ds.retention_days)
    report = PurgeReport(ds.id, ds.retention_days, cutoff, dry_run)
    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        conn.commit()
        # Not while a delivery of the dataset lands (land_file holds this lock for its transaction).
        conn.execute("select pg_advisory_xact_lock(hashtext('kho.landing.land'), hashtext(%s))", [ds.id])
        files = _due_files(ds, cutoff, s)
        report.files = [p.name for p in files]
        report.bytes = sum(p.stat().st_size for p in files)
        if dry_run:
            (report.quarantine_rows,) = conn.execute(
                "select count(*) from kho_meta.quarantine where dataset = %s and quarantined_at < %s",
                [ds.id, cutoff],
            ).fetchone()
            return report
        report.quarantine_rows = conn.execute(
            "delete from kho_meta.quarantine where dataset = %s and quarantined_at < %s", [ds.id, cutoff]
        ).rowcount
        conn.execute(
            "update kho_meta.loads set archived_path = null where dataset = %s and archived_path = any(%s)",
            [ds.id, [str(p) for p in files]],
        )
        conn.execute(
            "insert into kho_meta.purges"
            " (dataset, retention_days, cutoff, archived_files, archived_bytes, quarantine_rows, files)"
            " values (%s, %s, %s, %s, %s, %s, %s)",
            [
                ds.id,
                ds.retention_days,
                cutoff,
                len(files),
                report.bytes,
                report.quarantine_rows,
                json.dumps(report.files),
            ],
        )
        # The files go last, inside the transaction: if one cannot be deleted, nothing is recorded as
        # purged and the next run tries again.
        for p in files:
            try:
                p.unlink(missing_ok=True)
            except OSError as exc:
                raise PurgeError(f"{ds.id}: cannot delete archived file {p}: {exc.strerror}") from None
        conn.commit()
    return report


def purge(
    dataset_id: str | None = None,
    s: Settings | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> list[PurgeReport]:
    """Purge every dataset with a ``retention_days`` in the catalog (or just ``dataset_id``)."""
    if dataset_id is not None:
        datasets = [catalog().dataset(dataset_id)]
        if datasets[0].retention_days is None:
            raise PurgeError(
                f"{dataset_id}: the catalog entry sets no 'retention_days', so nothing is purged"
            )
    else:
        datasets = [ds for ds in catalog().datasets.values() if ds.retention_days is not None]
    return [purge_dataset(ds, s, dry_run, now) for ds in sorted(datasets, key=lambda d: d.id)]
