"""Land one delivery in the raw layer: archive it by hash, read it, quarantine bad rows, COPY the rest.

A delivery lands atomically (one transaction: raw rows, quarantined rows and the ``kho_meta.loads``
row commit together) and exactly once (a file whose sha256 already landed is skipped, unless it is landed
again with ``replace``: the new load supersedes the old one). Every source row ends up landed or
quarantined: ``rows_delivered = rows_landed + rows_quarantined``. A refused delivery lands nothing, but its
bad rows (the first :data:`MAX_REFUSAL_ROWS`) are kept in ``kho_meta.refusal_reasons`` with their reasons;
:func:`explain_file` says what a file would give, landing nothing.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from kho.catalog import Dataset, catalog
from kho.errors import ArchiveError, DeliveryError, KhoError, Plain, Problem
from kho.landing.areas import check_name, dataset_scope
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
# A refused delivery's bad rows kept for reading (kho_meta.refusal_reasons); on_invalid_value: refuse stops
# reading the file once it has seen this many.
MAX_REFUSAL_ROWS = 1000
HASH_BLOCK_BYTES = 8 << 20  # see _sha256


@dataclass
class LoadReport:
    dataset: str
    source_file: str
    file_sha256: str
    status: str  # landed | skipped | refused | failed (not landed now, left in the inbox)
    load_id: str | None = None
    rows_delivered: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    archived_path: str | None = None
    error: str | None = None
    quarantine_reasons: dict[str, int] | None = None
    method: str | None = None  # bulk (set-based, kho.landing.bulk) | rows (record by record)
    superseded: str | None = None  # the load this one replaced (land_file(..., replace=True))

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if self.status == "skipped":
            return f"{self.dataset}: {self.source_file}: skipped, identical to a delivery already landed"
        if self.status in ("refused", "failed"):
            return f"{self.dataset}: {self.source_file}: {self.status}: {self.error}"
        text = (
            f"{self.dataset}: {self.source_file}: {self.rows_delivered} rows delivered, "
            f"{self.rows_landed} landed, {self.rows_quarantined} quarantined"
        )
        if self.quarantine_reasons:
            text += " (" + "; ".join(f"{n} x {r}" for r, n in self.quarantine_reasons.items()) + ")"
        if self.method == "bulk":
            text += "; landed set-based"
        if self.superseded:
            text += f"; replaces load {self.superseded}"
        return text


def safe_file_name(name: str) -> str:
    """The delivered file's base name, stripped of any directory parts and odd characters."""
    base = os.path.basename(name.replace("\\", "/")).strip() or "delivery"
    base = SAFE_NAME.sub("_", base).lstrip(".")
    return base[:200] or "delivery"


@dataclass(frozen=True)
class Taken:
    """A delivered file as archived: its sha256, the archive copy, and which file it was when read."""

    sha256: str
    path: Path  # the archive copy
    device: int
    inode: int
    size: int
    mtime_ns: int


def describe_kind(mode: int) -> str:
    """What a file that is not a regular file is, for a refusal."""
    if stat.S_ISLNK(mode):
        return "a symbolic link (not followed)"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _not_regular(dataset: str, path: Path, mode: int) -> DeliveryError:
    return DeliveryError(
        Problem(dataset, safe_file_name(path.name), None, None, "a regular file", Plain(describe_kind(mode)))
    )


def _open_delivery(path: Path, dataset: str) -> tuple[int, os.stat_result]:
    """The delivered file opened for reading, and its status; never through a symbolic link, never anything
    but a regular file (a pipe or device is refused before it is opened, and the opened file is checked)."""
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        raise DeliveryError(
            Problem(
                dataset, safe_file_name(path.name), None, None, "a readable file", Plain(f"nothing at {path}")
            )
        ) from None
    if not stat.S_ISREG(before.st_mode):
        raise _not_regular(dataset, path, before.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a link since the look above
            raise _not_regular(dataset, path, stat.S_IFLNK) from None
        raise
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode):
        os.close(fd)
        raise _not_regular(dataset, path, opened.st_mode)
    return fd, opened


def _private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner may enter (mode 700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


TAKING = ".taking-"  # a copy being archived: .taking-XXXX.part, renamed to its sha256 when whole


def _sweep_abandoned(folder: Path) -> None:
    """Remove the partial copies that a killed landing left in the archive folder (a SIGKILL while it was
    archiving): they hold part of a delivery, personal data maybe, and nothing else would ever remove them.
    A copy still being written is locked by its writer and left alone."""
    with _folder_lock(folder, fcntl.LOCK_EX):
        for name in os.listdir(folder):
            if not (name.startswith(TAKING) and name.endswith(".part")):
                continue
            try:
                fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being written now
            else:
                (folder / name).unlink(missing_ok=True)
                log.warning(
                    "%s: removed a partial archive copy left by an interrupted landing", folder / name
                )
            finally:
                os.close(fd)


@contextmanager
def _folder_lock(folder: Path, how: int) -> Iterator[None]:
    """An flock on the folder itself: shared by those making a copy in it, exclusive for a sweep."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)  # releases the lock


def take(
    path: Path, dataset: str, s: Settings, hashed: tuple[int, str, Callable[[], bool]] | None = None
) -> Taken:
    """Copy the delivery into the archive under its sha256 and make the copy durable; what was taken.

    One read of the opened file both hashes and copies it, so the archive holds exactly the bytes hashed.
    ``hashed``: the delivery opened and hashed already (its file descriptor, left open; its sha256; whether
    it is unchanged since): the kernel copies it (``copy_file_range``), and a file changed meanwhile
    raises :class:`Changed`, nothing archived.
    The copy (mode 600, in folders of mode 700) and the folders naming it are fsynced before anything may
    remove the delivered file. A copy already archived under the same sha256 is kept as it is.
    """
    fd, opened = (hashed[0], os.fstat(hashed[0])) if hashed else _open_delivery(path, dataset)
    try:
        root = _private_dir(s.archive_dir)
        folder = _private_dir(root / dataset)
        _sweep_abandoned(folder)
        with _folder_lock(folder, fcntl.LOCK_SH):  # no sweep between making the copy and locking it
            tmp_fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=TAKING, suffix=".part")  # mode 600
            # Locked while it is being written: a copy whose lock is free was abandoned (its process was
            # killed) and the next take removes it (_sweep_abandoned).
            fcntl.flock(tmp_fd, fcntl.LOCK_EX)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(tmp_fd, "wb") as out:
                if hashed:
                    _copy_file(fd, out.fileno(), opened.st_size)
                    sha = hashed[1]
                    if not hashed[2]():
                        raise Changed(path)
                else:
                    digest = hashlib.sha256()
                    for chunk in iter(lambda: os.read(fd, 1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
                    sha = digest.hexdigest()
                out.flush()
                os.fsync(out.fileno())
                shelf = _private_dir(folder / sha[:2])
                target = shelf / f"{sha}{path.suffix.lower()[:10]}"
                if target.exists():
                    tmp.unlink()
                    os.chmod(target, 0o600)
                else:
                    tmp.replace(target)
                    _fsync_dir(shelf)
            _fsync_dir(folder)
            _fsync_dir(root)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.errno in FULL:
                raise _archive_full(dataset, path, opened.st_size, folder, exc) from None
            raise
    except OSError as exc:  # the archive's folders could not even be made
        if exc.errno not in FULL:
            raise
        raise _archive_full(dataset, path, opened.st_size, s.archive_dir, exc) from None
    finally:
        if not hashed:
            os.close(fd)
    return Taken(sha, target, opened.st_dev, opened.st_ino, opened.st_size, opened.st_mtime_ns)


class Changed(Exception):
    """The delivered file was written to while it was being archived or landed."""


def _copy_file(source: int, target: int, size: int) -> None:
    """``size`` bytes from the start of ``source`` to ``target``, in the kernel where it can."""
    done = 0
    try:
        while done < size and (n := os.copy_file_range(source, target, size - done, done)):
            done += n
    except OSError as exc:  # a file system that cannot (EXDEV, ENOSYS, EINVAL...): copied through here
        log.debug("copy_file_range: %s", exc)
    while done < size and (chunk := os.pread(source, min(1 << 20, size - done), done)):
        done += os.write(target, chunk)


FULL = (errno.ENOSPC, errno.EDQUOT)


def _archive_full(dataset: str, path: Path, size: int, folder: Path, exc: OSError) -> ArchiveError:
    return ArchiveError(
        f"{dataset}: {safe_file_name(path.name)}: the archive has no room for it ({folder}: {exc.strerror}; "
        f"the delivery is {size:,} bytes); nothing of it landed and the file was left where it was: "
        "free space in the archive, then land it again"
    )


def archive(path: Path, dataset: str, s: Settings) -> tuple[str, Path]:
    """Copy the delivery into the archive under its sha256 (:func:`take`); return (sha256, archived path)."""
    taken = take(path, dataset, s)
    return taken.sha256, taken.path


def raw_columns(ds: Dataset) -> list[tuple[str, str]]:
    """Landed columns: provenance, then the catalog's columns, plus a match key per matched column."""
    cols = list(PROVENANCE)
    for c in ds.columns:
        cols.append((c.name, PG_TYPES[c.type]))
        if c.match:
            cols.append((f"{c.name}_key", "text"))
    return cols


def ensure_raw_table(conn: psycopg.Connection, ds: Dataset) -> None:
    """Create the dataset's raw table and its indexes if missing; no DDL (and no lock) when they exist.

    ``_load_id`` (btree) finds a load's rows (supersede, purge); ``_loaded_at`` (BRIN: a few pages, next to
    nothing to keep up while landing, as rows arrive in load order) lets an incremental model read only
    the loads newer than its table's newest.
    """
    newest = f"{ds.raw_schema}.{ds.raw_table}__loaded_at"  # the index added last: older tables lack it
    if conn.execute("select to_regclass(%s) is not null", [newest]).fetchone()[0]:
        return
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
    conn.execute(
        sql.SQL("create index if not exists {} on {} using brin (_loaded_at)").format(
            sql.Identifier(f"{ds.raw_table}__loaded_at"), table
        )
    )


def check_record(ds: Dataset, record: Record) -> tuple[str, str] | None:
    """(column, reason) if the record must be quarantined, else None."""
    scope = dataset_scope(ds)
    for row in record.rows:
        for col in ds.columns:
            value = row.get(col.name)
            if col.required and (value is None or value == ""):
                return col.name, f"required column '{col.name}' is empty"
            if col.match and value not in (None, ""):
                row[f"{col.name}_key"], unknown = check_name(col.match, str(value), scope)
                if unknown:
                    return col.name, unknown
    return None


@contextmanager
def _collector_set_aside() -> Iterator[None]:
    """The process's objects so far (modules, Arrow, pandas, the catalog: some 90,000 in a worker) set
    aside from Python's cyclic garbage collector while a delivery lands. A full collection walks them all
    (27-36 ms measured) and one falls due early in a landing, while PostgreSQL waits for the first rows
    and while a thread hashes the file (the collection holds Python's lock). Garbage the landing makes is
    collected as usual (what one landing leaves uncollected, the next one sets aside with the rest until it
    ends); the objects are put back when it ends. Nothing is done when objects were set aside already (by
    an outer landing, or by the process before forking)."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@_collector_set_aside()
def land_file(
    dataset_id: str,
    path: Path,
    source_name: str | None = None,
    s: Settings | None = None,
    progress: Callable[[int], None] | None = None,
    replace: bool = False,
    taken: Taken | None = None,
) -> LoadReport:
    """Land one delivered file for ``dataset_id``; raise ``DeliveryError`` if it is refused.

    Every delivery is archived under its sha256 (``taken``: archived already, by :func:`land_inbox`; what
    lands is read from the archive copy), so even a refused one is kept. A file whose sha256 already landed
    is skipped, unless ``replace``: then it lands again (as the catalog now reads it) and, in the same
    transaction, the earlier load is marked ``superseded`` and its raw rows are deleted, so staging and
    the marts see the new rows only; ``kho_meta.loads`` keeps both loads.

    A file not archived yet is hashed by a thread (meanwhile the set-based landing reads its header, and
    converts its first batches, ahead), then copied into the archive by that thread while it lands from the
    file itself; the load commits once the copy is durable and the file is unchanged (size, times).
    A file written to meanwhile is taken again (hashed as it is copied) and lands from that copy.
    """
    s = s or settings()
    ds = catalog().dataset(dataset_id)
    name = safe_file_name(source_name or path.name)
    if not path.is_file():
        raise DeliveryError(Problem(ds.id, name, None, None, "a readable file", Plain(f"nothing at {path}")))
    if taken:
        return _land_file(ds, name, taken.path, taken.sha256, lambda: taken, s, progress, replace)
    fd, opened = _open_delivery(path, ds.id)
    # /proc/self/fd: the file opened above, read afresh, whatever its path now names
    source = Path(f"/proc/self/fd/{fd}")

    def unchanged() -> bool:
        return _state(os.fstat(fd)) == _state(opened)

    ahead = None
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="kho-archive") as pool:
            hashing = pool.submit(_sha256, fd)
            ahead = _read_ahead(ds, source, name)  # while the file is hashed (which frees Python's lock)
            # the same thread copies the file into the archive once it is hashed
            archiving = pool.submit(lambda: take(path, ds.id, s, (fd, hashing.result(), unchanged)))

            def archived() -> Taken:
                """The archive copy, once the file is known unchanged since it was hashed (else Changed)."""
                done = archiving.result()
                if not unchanged():
                    raise Changed(path)
                return done

            return _land_file(ds, name, source, hashing, archived, s, progress, replace, ahead)
    except Changed:  # written to meanwhile: nothing committed; taken as it is now, then landed
        log.info("%s: %s changed while it was landing; landing it again", ds.id, name)
    finally:
        _put_aside(ahead)
        os.close(fd)
    return land_file(dataset_id, path, source_name, s, progress, replace, taken=take(path, ds.id, s))


def _read_ahead(ds: Dataset, path: Path, name: str) -> object:
    """What the set-based landing reads first (:func:`kho.landing.bulk.plan_ahead`), or None."""
    from kho.landing import bulk  # Arrow (and pandas, which it loads): only when a delivery lands

    return bulk.plan_ahead(ds, path, name) if bulk.eligible(ds) else None


def _work_ahead(ahead: object, ds: Dataset, path: Path, name: str, done: Callable[[], bool]) -> None:
    """:func:`kho.landing.bulk.work_ahead`, for a file that lands set-based."""
    if ahead is not None:
        from kho.landing import bulk

        bulk.work_ahead(ahead, ds, path, name, done)


def _put_aside(ahead: object) -> None:
    """:func:`kho.landing.bulk.put_aside`: what working ahead opened, closed."""
    if ahead is not None:
        from kho.landing import bulk

        bulk.put_aside(ahead)


def _sha256(fd: int) -> str:
    """The sha256 of what ``fd`` reads from its position on.

    Read and hashed in blocks of ``HASH_BLOCK_BYTES``, Python's lock freed for each: few blocks, so that a
    thread hashing beside busy Python code waits for the lock a few times only (``hashlib.file_digest``'s
    256 kB would make it wait up to 5 ms, the switch interval, every 256 kB).
    """
    digest = hashlib.sha256()
    block = bytearray(HASH_BLOCK_BYTES)
    view = memoryview(block)
    while size := os.readv(fd, [block]):
        digest.update(view[:size])
    return digest.hexdigest()


def _land_file(
    ds: Dataset,
    name: str,
    source: Path,
    hashed: str | Future[str],
    archived: Callable[[], Taken],
    s: Settings,
    progress: Callable[[int], None] | None,
    replace: bool,
    ahead: object = None,
) -> LoadReport:
    """:func:`land_file` for a file whose sha256 is known or being found (``hashed``): ``archived`` waits
    for its archive copy (and may raise :class:`Changed`, which rolls the landing back); ``ahead``:
    :func:`_read_ahead`'s. While the file is still hashed, the warehouse is connected to and, for a file
    that lands set-based, its first batches are converted and the reference's names learnt
    (:func:`kho.landing.bulk.work_ahead`)."""
    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        ensure_raw_table(conn, ds)
        conn.commit()
        if not isinstance(hashed, str):
            _work_ahead(ahead, ds, source, name, hashed.done)
            hashed = hashed.result()
        report = LoadReport(ds.id, name, hashed, "landed")

        def wait_for_archive() -> None:
            report.archived_path = str(archived().path)

        # One delivery of a dataset at a time (a DAG run and a manual `kho land`, say): the lock is
        # held until this delivery's transaction ends, so the sha256 check below cannot race.
        conn.execute("select pg_advisory_xact_lock(hashtext('kho.landing.land'), hashtext(%s))", [ds.id])
        already = conn.execute(
            "select load_id from kho_meta.loads where dataset = %s and file_sha256 = %s and status = 'landed'",
            [ds.id, report.file_sha256],
        ).fetchone()
        if already and not replace:
            wait_for_archive()
            report.status, report.load_id = "skipped", already[0]
            return report

        report.load_id = str(uuid.uuid4())
        started = datetime.now(UTC)
        try:
            _land(conn, ds, source, name, report, started, progress, ahead)
        except DeliveryError as exc:
            conn.rollback()
            wait_for_archive()
            report.status, report.error = "refused", str(exc)
            report.rows_delivered = report.rows_landed = report.rows_quarantined = 0
            _record_load(conn, report, started)
            _write_refusal(conn, ds, name, report, getattr(exc, "bad_rows", []))
            conn.commit()
            exc.report = report
            raise
        wait_for_archive()  # durable before the load commits; a failure rolls the landing back
        if already:
            _supersede(conn, ds, already[0], report)
        _record_load(conn, report, started)
        conn.commit()
    return report


def _supersede(conn: psycopg.Connection, ds: Dataset, old_load: str, report: LoadReport) -> None:
    """The earlier load of the same file gives way to ``report``'s: marked superseded, its raw rows deleted.

    Staging picks the latest load per key, which would already prefer the new rows; deleting the old
    ones also drops figures the new reading no longer has (a name now quarantined, a column now
    ignored). Its quarantined rows stay as the record of that load. Incremental models merged the old
    rows in and would keep those that the new load does not overwrite: their recorded fingerprints are
    dropped, so the next warehouse run builds them whole (kho.conforming.incremental).
    """
    conn.execute(
        sql.SQL("delete from {} where _load_id = %s").format(sql.Identifier(ds.raw_schema, ds.raw_table)),
        [old_load],
    )
    conn.execute(
        "update kho_meta.loads set status = 'superseded', superseded_by = %s where load_id = %s",
        [report.load_id, old_load],
    )
    conn.execute("delete from kho_meta.incremental_models")
    report.superseded = old_load


def _land(
    conn: psycopg.Connection,
    ds: Dataset,
    path: Path,
    name: str,
    report: LoadReport,
    started: datetime,
    progress: Callable[[int], None] | None,
    ahead: object = None,
) -> None:
    ensure_raw_table(conn, ds)
    # Quarantined rows wait in a spooled file (memory up to 8 MB, then disk) until the raw COPY is done:
    # one connection cannot run two COPYs at once, and a list could grow past the memory budget.
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8") as held:
        try:
            reasons = _land_bulk(conn, ds, path, name, report, started, held, progress, ahead)
            if reasons is None:
                report.method = "rows"
                reasons = _land_rows(conn, ds, path, name, report, started, held, progress)
            report.quarantine_reasons = dict(list(reasons.items())[:20]) or None
            refusal = _refusal(ds, name, report, reasons)
            if refusal:
                raise DeliveryError(refusal)
        except DeliveryError as exc:
            # every reason, not only the first: land_file records them once the landing is rolled back
            exc.bad_rows = _held_rows(held, MAX_REFUSAL_ROWS)
            raise
        held.seek(0)
        _write_quarantine(conn, ds, name, report, held)


def _held_rows(held: IO[str], limit: int | None = None) -> list[tuple[int | None, str | None, str, object]]:
    """The bad rows held so far: (source row, column, reason, raw values), in file order."""
    held.seek(0)
    rows = []
    for line in held:
        if limit is not None and len(rows) >= limit:
            break
        rows.append(tuple(json.loads(line)))
    return rows


def _land_bulk(
    conn: psycopg.Connection,
    ds: Dataset,
    path: Path,
    name: str,
    report: LoadReport,
    started: datetime,
    held: IO[str],
    progress: Callable[[int], None] | None,
    ahead: object = None,
) -> dict[str, int] | None:
    """Land set-based (:mod:`kho.landing.bulk`); None, with nothing landed, when the file needs the row-by-row path."""
    from kho.landing import bulk  # Arrow (and pandas, which it loads): only when a delivery lands

    if not bulk.eligible(ds):
        return None
    try:
        with conn.transaction():  # a savepoint: a fallback leaves no trace
            delivered, quarantined, reasons = bulk.land(
                conn, ds, path, name, (report.load_id, report.file_sha256, started), held, progress, ahead
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
    """Read the file record by record (every reader, every layout), COPY the good rows, hold the bad.

    With ``on_invalid_value: refuse`` the first invalid value refuses the file, but reading goes on (up to
    :data:`MAX_REFUSAL_ROWS` bad rows) so that the refusal can show every reason, not only the first.
    """
    columns = [c for c, _ in raw_columns(ds)]
    read = reader_for(ds.source.format)
    reasons: dict[str, int] = {}
    refused: Problem | None = None
    target = sql.Identifier(ds.raw_schema, ds.raw_table)
    copy_sql = sql.SQL("copy {} ({}) from stdin").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        try:
            for record in read(ds, path, name):
                report.rows_delivered += 1
                if progress and report.rows_delivered % 1000 == 0:
                    progress(report.rows_delivered)
                if record.issues:
                    issue = record.issues[0]
                    if ds.quality.on_invalid_value == "refuse" and refused is None:
                        refused = Problem(
                            ds.id, name, record.source_row, issue.column, issue.expected, issue.found
                        )
                    found = issue.found if isinstance(issue.found, Plain) else repr(issue.found)
                    column, reason = issue.column, f"expected {issue.expected}, found {found}"
                else:
                    problem = check_record(ds, record)
                    if problem is None:
                        if refused is None:
                            provenance = (
                                report.load_id,
                                name,
                                report.file_sha256,
                                record.source_row,
                                started,
                            )
                            for row in record.rows:
                                copy.write_row(
                                    provenance + tuple(row.get(c) for c in columns[len(PROVENANCE) :])
                                )
                        report.rows_landed += 1
                        continue
                    column, reason = problem
                reasons[reason] = reasons.get(reason, 0) + 1
                report.rows_quarantined += 1
                held.write(
                    json.dumps([record.source_row, column, reason, record.raw], ensure_ascii=False) + "\n"
                )
                if refused is not None and report.rows_quarantined >= MAX_REFUSAL_ROWS:
                    break
        except DeliveryError:
            if refused is None:
                raise
            # the file was refused earlier on; what the reader stumbled on later does not change that
    if refused is not None:
        raise DeliveryError(refused)
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


def _write_refusal(
    conn: psycopg.Connection, ds: Dataset, name: str, report: LoadReport, bad_rows: list
) -> None:
    """Keep a refused delivery's bad rows with their reasons (``kho_meta.refusal_reasons``)."""
    with (
        conn.cursor() as cur,
        cur.copy(
            "copy kho_meta.refusal_reasons (dataset, load_id, source_file, source_row, column_name, reason,"
            " raw_values) from stdin"
        ) as copy,
    ):
        for source_row, column, reason, raw in bad_rows:
            copy.write_row(
                (ds.id, report.load_id, name, source_row, column, reason, json.dumps(raw, ensure_ascii=False))
            )


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


@dataclass
class Found:
    """One value found for a reason (an unknown name, a value that is not a number) and where."""

    value: str
    rows: int
    first_lines: list[int]
    nearest: list[str]  # an unknown name's nearest known names


@dataclass
class ReasonGroup:
    """Rows a delivery cannot land for one reason in one column, with each value found for it."""

    column: str | None
    reason: str  # "unknown area name", "expected a number ...", "required column 'x' is empty"
    rows: int
    first_lines: list[int]
    found: list[Found]


@dataclass
class Explanation:
    """What landing a file would give now, found by landing it in a transaction rolled back."""

    dataset: str
    source_file: str
    file_sha256: str
    outcome: str  # would land | would be refused
    error: str | None
    rows_delivered: int
    rows_landed: int
    rows_quarantined: int
    groups: list[ReasonGroup]
    complete: bool  # False: reading stopped after MAX_REFUSAL_ROWS bad rows
    landed_as: str | None = None  # an earlier load of the same file (land it again with replace)

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self, shown: int = 5) -> list[str]:
        """The explanation as `kho land --explain` prints it: every reason and every value found."""
        where = f"{self.dataset}: {self.source_file}"
        error = (self.error or "").removeprefix(where + ": ")
        text = [f"{where}: {self.outcome}" + (f": {error}" if error else "")]
        if self.landed_as:
            text.append(f"already landed as load {self.landed_as}; `kho land --replace` lands it again")
        text.append(
            f"{self.rows_delivered} rows read: {self.rows_landed} without a problem, {self.rows_quarantined}"
            " with one" + ("" if self.complete else f" (reading stopped after {MAX_REFUSAL_ROWS} of those)")
        )
        if self.groups:
            text.append(f"{len(self.groups)} reason{'s' if len(self.groups) > 1 else ''}, most rows first:")
        for g in self.groups:
            column = f"column {g.column!r}: " if g.column else ""
            text.append(f"  {g.rows} x {column}{g.reason} ({_lines(g.first_lines, g.rows, shown)})")
            for f in g.found:
                near = f": nearest known: {', '.join(f.nearest)}" if f.nearest else ""
                text.append(f"      {f.value} ({_lines(f.first_lines, f.rows, shown)}){near}")
        return text


def _lines(first: list[int], rows: int, shown: int) -> str:
    listed = ", ".join(map(str, first[:shown])) + (", ..." if rows > min(shown, len(first)) else "")
    return f"{rows} rows: lines {listed}" if rows > 1 else f"line {listed}"


def _file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return _sha256(f.fileno())


UNKNOWN_NAME = re.compile(r"^(unknown \w+ name) (.+?)(?:; nearest known: (.*))?$", re.DOTALL)


def _split_reason(reason: str) -> tuple[str, str | None, list[str]]:
    """A held reason as (the reason shared by many rows, the value found, the nearest known names)."""
    if m := UNKNOWN_NAME.match(reason):
        return m[1], m[2], m[3].split(", ") if m[3] else []
    if reason.startswith("expected ") and ", found " in reason:
        expected, _, found = reason.rpartition(", found ")
        return expected, found, []
    return reason, None, []


def _group(held: IO[str], first: int = 20) -> list[ReasonGroup]:
    """The held bad rows grouped by column and reason, most rows first (then in file order)."""
    groups: dict[tuple[str | None, str], ReasonGroup] = {}
    values: dict[tuple[str | None, str, str], Found] = {}
    held.seek(0)
    for line in held:
        source_row, column, reason, _raw = json.loads(line)
        reason, value, nearest = _split_reason(reason)
        g = groups.get((column, reason))
        if g is None:
            g = groups[(column, reason)] = ReasonGroup(column, reason, 0, [], [])
        g.rows += 1
        if len(g.first_lines) < first and source_row is not None:
            g.first_lines.append(source_row)
        if value is None:
            continue
        f = values.get((column, reason, value))
        if f is None:
            f = values[(column, reason, value)] = Found(value, 0, [], nearest)
            g.found.append(f)
        f.rows += 1
        if len(f.first_lines) < first and source_row is not None:
            f.first_lines.append(source_row)
    return sorted(groups.values(), key=lambda g: (-g.rows, g.first_lines[:1]))


def explain_file(
    dataset_id: str,
    path: Path,
    source_name: str | None = None,
    s: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> Explanation:
    """Every reason a file would be refused or rows quarantined for, landing nothing.

    The file is read as landing would read it now (the catalog as it is), row by row, in a transaction
    that is rolled back: nothing lands in raw, no load is recorded, and the file is neither archived nor
    taken from the inbox.
    """
    s = s or settings()
    ds = catalog().dataset(dataset_id)
    name = safe_file_name(source_name or path.name)
    if not path.is_file():
        raise DeliveryError(Problem(ds.id, name, None, None, "a readable file", Plain(f"nothing at {path}")))
    sha = _file_sha256(path)
    report = LoadReport(ds.id, name, sha, "landed", load_id="explain")
    error = None
    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        conn.commit()
        landed = conn.execute(
            "select load_id from kho_meta.loads where dataset = %s and file_sha256 = %s and status = 'landed'",
            [ds.id, sha],
        ).fetchone()
        with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8") as held:
            try:
                ensure_raw_table(conn, ds)
                reasons = _land_rows(conn, ds, path, name, report, datetime.now(UTC), held, progress)
                refusal = _refusal(ds, name, report, reasons)
                if refusal:
                    raise DeliveryError(refusal)
            except DeliveryError as exc:
                error = str(exc)
            finally:
                conn.rollback()
            groups = _group(held)
    complete = not (error and report.rows_quarantined >= MAX_REFUSAL_ROWS)
    return Explanation(
        ds.id,
        name,
        sha,
        "would be refused" if error else "would land",
        error,
        report.rows_delivered,
        report.rows_landed,
        report.rows_quarantined,
        groups,
        complete,
        landed[0] if landed else None,
    )


NEVER_TAKEN = (".part", ".tmp")  # names of files still being written; so are names starting with "."


def land_inbox(
    dataset_id: str,
    s: Settings | None = None,
    stable_seconds: float | None = None,
    fetched: Collection[str] = (),
) -> list[LoadReport]:
    """Land every complete file waiting in the dataset's inbox, oldest first; each landed or refused file
    leaves the inbox.

    Only regular files are read: a symbolic link, folder, pipe or device is refused unread (the entry is
    removed, a folder left). Only complete files are taken: not a name starting with "." or ending in
    ".part"/".tmp" (write under such a name, then rename), and only once its size and modification time
    have not changed for ``stable_seconds`` (``KHO_INBOX_STABLE_SECONDS``), except the files named in
    ``fetched``: Kho's own fetch wrote them whole before renaming them in. Refused deliveries are
    reported, not raised, so one bad file does not hold back the others; neither does a file that cannot
    be landed now (the database unreachable, a disk error): it stays in the inbox, reported ``failed``,
    and is tried again next run. The file removed is the one archived: same file (device, inode), same
    sha256, checked again just before; a file replaced or changed meanwhile stays for the next run.
    """
    s = s or settings()
    stable = s.inbox_stable_seconds if stable_seconds is None else stable_seconds
    reports: list[LoadReport] = []
    for path, mode in _others(s.inbox_dir / dataset_id):
        error = _not_regular(dataset_id, path, mode)
        reports.append(LoadReport(dataset_id, safe_file_name(path.name), "", "refused", error=str(error)))
        if not stat.S_ISDIR(mode):
            path.unlink(missing_ok=True)  # the link, pipe or device node itself, never what it points to
    for path in complete_files(s.inbox_dir / dataset_id, stable, fetched):
        reports.append(_land_waiting(dataset_id, path, s))
    return reports


def _candidates(inbox: Path) -> list[tuple[Path, os.stat_result]]:
    """Inbox entries that may be deliveries, with their status (not following links)."""
    entries = []
    try:
        names = os.listdir(inbox)
    except FileNotFoundError:
        return []
    for name in names:
        if name.startswith(".") or name.lower().endswith(NEVER_TAKEN):
            continue
        try:
            entries.append((inbox / name, os.lstat(inbox / name)))
        except FileNotFoundError:
            continue
    return entries


def _others(inbox: Path) -> list[tuple[Path, int]]:
    return sorted((p, st.st_mode) for p, st in _candidates(inbox) if not stat.S_ISREG(st.st_mode))


def _state(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def complete_files(inbox: Path, stable_seconds: float, fetched: Collection[str] = ()) -> list[Path]:
    """The regular files of the inbox unchanged for ``stable_seconds`` (or named in ``fetched``: complete
    when they were renamed in), oldest first. A file modified more recently is watched that long (once, for
    all of them) and left for the next run if it changed."""
    files = [(p, st) for p, st in _candidates(inbox) if stat.S_ISREG(st.st_mode)]
    now = time.time()
    settled = [now - st.st_mtime >= stable_seconds or p.name in fetched for p, st in files]
    ready = [f for f, ok in zip(files, settled, strict=True) if ok]
    recent = [f for f, ok in zip(files, settled, strict=True) if not ok]
    if recent:
        time.sleep(stable_seconds)
        for path, before in recent:
            try:
                after = os.lstat(path)
            except FileNotFoundError:
                continue
            if _state(after) == _state(before):
                ready.append((path, after))
            else:
                log.info("%s: still being written, left for the next run", path)
    return [p for p, _ in sorted(ready, key=lambda e: (e[1].st_mtime, e[0].name))]


def _land_waiting(dataset_id: str, path: Path, s: Settings) -> LoadReport:
    """Archive, land and remove one inbox file; a report whatever happens (refused, failed)."""
    name = safe_file_name(path.name)
    try:
        taken = take(path, dataset_id, s)
    except DeliveryError as exc:  # no longer a regular file: refused unread, nothing archived
        if not path.is_dir():
            path.unlink(missing_ok=True)
        return LoadReport(dataset_id, name, "", "refused", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - the disk: try again next run
        return _failed(dataset_id, name, exc)
    try:
        for attempt in range(
            1, 4
        ):  # a deadlock with another task's transaction is retried, as PostgreSQL advises
            try:
                report = land_file(dataset_id, taken.path, source_name=path.name, s=s, taken=taken)
                break
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == 3:
                    raise
                time.sleep(attempt)
    except DeliveryError as exc:  # refused for what it holds: archived, recorded, and removed as landed
        report = getattr(exc, "report", None) or LoadReport(
            dataset_id, name, taken.sha256, "refused", archived_path=str(taken.path), error=str(exc)
        )
    except Exception as exc:  # noqa: BLE001 - the infrastructure (database, disk): try again next run
        return _failed(dataset_id, name, exc)
    if not release(path, taken):
        log.warning("%s: %s: changed since it was archived; left for the next run", dataset_id, name)
    return report


def _failed(dataset_id: str, name: str, exc: Exception) -> LoadReport:
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, KhoError):  # says what happened already, dataset and file first
        what = first.removeprefix(f"{dataset_id}: {name}: ")
    elif isinstance(exc, psycopg.OperationalError):
        what = f"the warehouse database did not answer: {first}"
    else:
        what = f"{type(exc).__name__}: {first}"
    error = f"not landed now ({what}); left in the inbox, tried again next run"
    log.warning("%s: %s: %s", dataset_id, name, error)
    return LoadReport(dataset_id, name, "", "failed", error=error)


def release(path: Path, taken: Taken) -> bool:
    """Remove the inbox file if it is still exactly what was archived (same device and inode, same size and
    modification time, same sha256); True if removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != (
            taken.device,
            taken.inode,
            taken.size,
            taken.mtime_ns,
        ) or not stat.S_ISREG(st.st_mode):
            return False
        if _sha256(fd) != taken.sha256:
            return False
        current = os.lstat(path)  # the name still names the file just hashed
        if (current.st_dev, current.st_ino) != (st.st_dev, st.st_ino):
            return False
        path.unlink()
        return True
    finally:
        os.close(fd)
