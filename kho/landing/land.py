"""Land one delivery in the raw layer: archive it by hash, read it, quarantine bad rows, COPY the rest.

A delivery lands atomically (one transaction: raw rows, quarantined rows and the ``kho_meta.loads``
row commit together) and exactly once (a file whose sha256 already landed is skipped). Every source row
ends up landed or quarantined: ``rows_delivered = rows_landed + rows_quarantined``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from kho.catalog import Dataset, catalog
from kho.errors import DeliveryError, Plain, Problem
from kho.landing import bulk
from kho.landing.areas import check_name
from kho.landing.readers import Record, reader_for
from kho.meta import ensure_meta_schema
from kho.settings import Settings, settings

PROVENANCE = [
    ("_load_id", "text not null"),
    ("_source_file", "text not null"),
    ("_file_sha256", "text not null"),
    ("_source_row", "integer not null"),
    ("_loaded_at", "timestamptz not null"),
]
PG_TYPES = {
    "text": "text",
    "integer": "bigint",
    "numeric": "numeric",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamptz",
}
log = logging.getLogger(__name__)
SAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)


@dataclass
class LoadReport:
    dataset: str
    source_file: str
    file_sha256: str
    status: str  # landed | skipped | refused
    load_id: str | None = None
    rows_delivered: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    archived_path: str | None = None
    error: str | None = None
    quarantine_reasons: dict[str, int] | None = None
    method: str | None = None  # bulk (set-based, kho.landing.bulk) | rows (record by record)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if self.status == "skipped":
            return f"{self.dataset}: {self.source_file}: skipped, identical to a delivery already landed"
        if self.status == "refused":
            return f"{self.dataset}: {self.source_file}: refused: {self.error}"
        text = (
            f"{self.dataset}: {self.source_file}: {self.rows_delivered} rows delivered, "
            f"{self.rows_landed} landed, {self.rows_quarantined} quarantined"
        )
        if self.quarantine_reasons:
            text += " (" + "; ".join(f"{n} x {r}" for r, n in self.quarantine_reasons.items()) + ")"
        if self.method == "bulk":
            text += "; landed set-based"
        return text


def safe_file_name(name: str) -> str:
    """The delivered file's base name, stripped of any directory parts and odd characters."""
    base = os.path.basename(name.replace("\\", "/")).strip() or "delivery"
    base = SAFE_NAME.sub("_", base).lstrip(".")
    return base[:200] or "delivery"


def archive(path: Path, dataset: str, s: Settings) -> tuple[str, Path]:
    """Copy the delivery into the archive under its sha256; return (sha256, archived path)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    sha = digest.hexdigest()
    target = s.archive_dir / dataset / sha[:2] / f"{sha}{path.suffix.lower()[:10]}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        shutil.copyfile(path, tmp)
        tmp.replace(target)
    return sha, target


def raw_columns(ds: Dataset) -> list[tuple[str, str]]:
    """Landed columns: provenance, then the catalog's columns, plus a match key per matched column."""
    cols = list(PROVENANCE)
    for c in ds.columns:
        cols.append((c.name, PG_TYPES[c.type]))
        if c.match:
            cols.append((f"{c.name}_key", "text"))
    return cols


def ensure_raw_table(conn: psycopg.Connection, ds: Dataset) -> None:
    schema, table = sql.Identifier(ds.raw_schema), sql.Identifier(ds.raw_schema, ds.raw_table)
    conn.execute(sql.SQL("create schema if not exists {}").format(schema))
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pgtype)) for name, pgtype in raw_columns(ds)
    )
    conn.execute(sql.SQL("create table if not exists {} ({})").format(table, columns))
    conn.execute(
        sql.SQL("create index if not exists {} on {} (_load_id)").format(
            sql.Identifier(f"{ds.raw_table}__load_id"), table
        )
    )


def check_record(ds: Dataset, record: Record) -> tuple[str, str] | None:
    """(column, reason) if the record must be quarantined, else None."""
    for row in record.rows:
        for col in ds.columns:
            value = row.get(col.name)
            if col.required and (value is None or value == ""):
                return col.name, f"required column '{col.name}' is empty"
            if col.match and value not in (None, ""):
                row[f"{col.name}_key"], unknown = check_name(col.match, str(value))
                if unknown:
                    return col.name, unknown
    return None


def land_file(
    dataset_id: str,
    path: Path,
    source_name: str | None = None,
    s: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Land one delivered file for ``dataset_id``; raise ``DeliveryError`` if it is refused.

    The file is archived first, so even a refused delivery is kept.
    """
    s = s or settings()
    ds = catalog().dataset(dataset_id)
    name = safe_file_name(source_name or path.name)
    if not path.is_file():
        raise DeliveryError(Problem(ds.id, name, None, None, "a readable file", Plain(f"nothing at {path}")))
    sha, archived = archive(path, ds.id, s)
    report = LoadReport(ds.id, name, sha, "landed", archived_path=str(archived))

    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        ensure_raw_table(conn, ds)
        conn.commit()
        # One delivery of a dataset at a time (a DAG run and a manual `kho land`, say): the lock is
        # held until this delivery's transaction ends, so the sha256 check below cannot race.
        conn.execute("select pg_advisory_xact_lock(hashtext('kho.landing.land'), hashtext(%s))", [ds.id])
        already = conn.execute(
            "select load_id from kho_meta.loads where dataset = %s and file_sha256 = %s and status = 'landed'",
            [ds.id, sha],
        ).fetchone()
        if already:
            report.status, report.load_id = "skipped", already[0]
            return report

        report.load_id = str(uuid.uuid4())
        started = datetime.now(UTC)
        try:
            _land(conn, ds, archived, name, report, started, progress)
        except DeliveryError as exc:
            conn.rollback()
            report.status, report.error = "refused", str(exc)
            report.rows_delivered = report.rows_landed = report.rows_quarantined = 0
            _record_load(conn, report, started)
            conn.commit()
            exc.report = report
            raise
        _record_load(conn, report, started)
        conn.commit()
    return report


def _land(
    conn: psycopg.Connection,
    ds: Dataset,
    path: Path,
    name: str,
    report: LoadReport,
    started: datetime,
    progress: Callable[[int], None] | None,
) -> None:
    ensure_raw_table(conn, ds)
    # Quarantined rows wait in a spooled file (memory up to 8 MB, then disk) until the raw COPY is done:
    # one connection cannot run two COPYs at once, and a list could grow past the memory budget.
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8") as held:
        reasons = (
            _land_bulk(conn, ds, path, name, report, started, held, progress) if bulk.eligible(ds) else None
        )
        if reasons is None:
            report.method = "rows"
            reasons = _land_rows(conn, ds, path, name, report, started, held, progress)
        report.quarantine_reasons = dict(list(reasons.items())[:20]) or None
        refusal = _refusal(ds, name, report, reasons)
        if refusal:
            raise DeliveryError(refusal)
        held.seek(0)
        _write_quarantine(conn, ds, name, report, held)


def _land_bulk(
    conn: psycopg.Connection,
    ds: Dataset,
    path: Path,
    name: str,
    report: LoadReport,
    started: datetime,
    held: IO[str],
    progress: Callable[[int], None] | None,
) -> dict[str, int] | None:
    """Land set-based (:mod:`kho.landing.bulk`); None, with nothing landed, when the file needs the row-by-row path."""
    try:
        with conn.transaction():  # a savepoint: a fallback leaves no trace
            delivered, quarantined, reasons = bulk.land(
                conn, ds, path, name, (report.load_id, report.file_sha256, started), held, progress
            )
            report.rows_delivered, report.rows_quarantined = delivered, quarantined
            report.rows_landed = delivered - quarantined
            if _refusal(ds, name, report, reasons):
                raise bulk.Fallback("a refusal, worded by the row-by-row path")
    except bulk.FALLBACK_ERRORS as exc:
        log.info("%s: %s: landing row by row: %s", ds.id, name, exc)
        held.seek(0)
        held.truncate()
        report.rows_delivered = report.rows_landed = report.rows_quarantined = 0
        return None
    report.method = "bulk"
    return reasons


def _land_rows(
    conn: psycopg.Connection,
    ds: Dataset,
    path: Path,
    name: str,
    report: LoadReport,
    started: datetime,
    held: IO[str],
    progress: Callable[[int], None] | None,
) -> dict[str, int]:
    """Read the file record by record (every reader, every layout), COPY the good rows, hold the bad."""
    columns = [c for c, _ in raw_columns(ds)]
    read = reader_for(ds.source.format)
    reasons: dict[str, int] = {}
    target = sql.Identifier(ds.raw_schema, ds.raw_table)
    copy_sql = sql.SQL("copy {} ({}) from stdin").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        for record in read(ds, path, name):
            report.rows_delivered += 1
            if progress and report.rows_delivered % 1000 == 0:
                progress(report.rows_delivered)
            if record.issues:
                issue = record.issues[0]
                if ds.quality.on_invalid_value == "refuse":
                    raise DeliveryError(
                        Problem(ds.id, name, record.source_row, issue.column, issue.expected, issue.found)
                    )
                column, reason = issue.column, f"expected {issue.expected}, found {issue.found!r}"
            else:
                problem = check_record(ds, record)
                if problem is None:
                    provenance = (report.load_id, name, report.file_sha256, record.source_row, started)
                    for row in record.rows:
                        copy.write_row(provenance + tuple(row.get(c) for c in columns[len(PROVENANCE) :]))
                    report.rows_landed += 1
                    continue
                column, reason = problem
            reasons[reason] = reasons.get(reason, 0) + 1
            report.rows_quarantined += 1
            held.write(json.dumps([record.source_row, column, reason, record.raw], ensure_ascii=False) + "\n")
    return reasons


def _refusal(ds: Dataset, name: str, report: LoadReport, reasons: dict[str, int]) -> Problem | None:
    """Why the delivery as a whole is refused (no rows; too many quarantined), or None."""
    if report.rows_delivered == 0:
        return Problem(ds.id, name, None, None, "at least one data row", Plain("none"))
    share = report.rows_quarantined / report.rows_delivered
    if share > ds.quality.max_quarantine_share:
        first = next(iter(reasons))
        return Problem(
            ds.id,
            name,
            None,
            None,
            f"at most {ds.quality.max_quarantine_share:.0%} of rows quarantined",
            Plain(
                f"{report.rows_quarantined} of {report.rows_delivered} ({share:.0%}); first reason: {first}"
            ),
        )
    return None


def _write_quarantine(
    conn: psycopg.Connection, ds: Dataset, name: str, report: LoadReport, held: IO[str]
) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            "copy kho_meta.quarantine (dataset, load_id, source_file, source_row, column_name, reason, raw_values)"
            " from stdin"
        ) as copy,
    ):
        for line in held:
            source_row, column, reason, raw = json.loads(line)
            copy.write_row(
                (ds.id, report.load_id, name, source_row, column, reason, json.dumps(raw, ensure_ascii=False))
            )


def _record_load(conn: psycopg.Connection, report: LoadReport, started: datetime) -> None:
    conn.execute(
        "insert into kho_meta.loads (load_id, dataset, source_file, file_sha256, archived_path, status,"
        " rows_delivered, rows_landed, rows_quarantined, error, started_at, finished_at)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())",
        [
            report.load_id,
            report.dataset,
            report.source_file,
            report.file_sha256,
            report.archived_path,
            report.status,
            report.rows_delivered,
            report.rows_landed,
            report.rows_quarantined,
            report.error,
            started,
        ],
    )


def land_inbox(dataset_id: str, s: Settings | None = None) -> list[LoadReport]:
    """Land every file waiting in the dataset's inbox, oldest first; consumed files leave the inbox.

    Refused deliveries are reported, not raised, so one bad file does not hold back the others.
    """
    s = s or settings()
    inbox = s.inbox_dir / dataset_id
    reports = []
    for path in sorted(inbox.glob("*"), key=lambda p: (p.stat().st_mtime, p.name)):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            reports.append(land_file(dataset_id, path, s=s))
        except DeliveryError as exc:
            reports.append(
                getattr(exc, "report", None)
                or LoadReport(dataset_id, safe_file_name(path.name), "", "refused", error=str(exc))
            )
        path.unlink()
    return reports
