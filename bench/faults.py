"""``python -m bench.faults``: the fault-injection campaign (issue 14, item 8), with its figures.

Faults are real: a landing process (``land_inbox`` in a child process) killed with SIGKILL at seeded byte
offsets of its ``COPY`` (read from ``pg_stat_progress_copy``) or at seeded moments; the real PostgreSQL
stopped through Kho's supervisor in the middle of a ``COPY`` and started again; the archive folder on a
tmpfs too small for the delivery (disk full); CKAN behind a small HTTP proxy that answers 503, drops the
connection, or forwards a call and loses its answer, during the metadata calls and during the DataStore
load; and bad deliveries (cut at a seeded byte, bytes flipped, empty, not a CSV). After each fault the next
run must converge, and the checks are what a user would check:

- every delivery: ``rows_delivered = rows_landed + rows_quarantined`` in ``kho_meta.loads``, the raw table
  holding exactly ``rows_landed`` rows of it and ``kho_meta.quarantine`` exactly ``rows_quarantined``;
- no duplicate key in the raw table, nor in the DataStore;
- nothing of a killed or failed load visible (no raw row, no 'landed' record), the file still in the
  inbox or archived under its sha256;
- the CKAN DataStore holding the mart's rows, and one dataset and one resource per file.

    python -m bench.faults                   # 5 faults of each kind, seed 14
    python -m bench.faults --per-kind 10 --seed 7 --only kill_copy --only ckan_datastore

The tests (``tests/integration/test_faults.py``) run each kind once or twice through the same functions.
Services are those of ``KHO_HOME`` / ``KHO_PORT_BASE`` (PostgreSQL, CKAN); inboxes and the archive are in a
scratch folder; the loads and test marts made are removed at the end.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import http.client
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
DATASET = "intangible_heritage"  # an inbox CSV dataset landed set-based (kho.landing.bulk), with a key column
HEADER = ["STT", "Mã di sản", "Tên di sản", "Loại hình", "Chủ thể", "Địa bàn", "Năm ghi danh", "Cấp ghi danh"]
BAD_INPUTS = ("cut", "flip", "empty", "binary", "header")
KINDS = (
    "kill_copy",  # SIGKILL of the landing process at a seeded byte offset of its COPY
    "kill_any",  # SIGKILL of the landing process at a seeded moment (archiving, reading, COPY, commit)
    "postgres_restart",  # PostgreSQL stopped in the middle of a COPY, then started again
    "archive_full",  # the archive folder on a filesystem too small for the delivery
    "ckan_metadata",  # CKAN answering 503 / dropping connections / losing answers during metadata calls
    "ckan_datastore",  # the same during the DataStore load (COPY path and datastore_upsert path)
    "bad_input",  # deliveries cut short, with flipped bytes, empty, or not CSV at all
)


# --- deliveries ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    name: str
    data: bytes
    rows: int  # data rows in the file
    bad: int  # rows that must be quarantined (a required cell left empty)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def heritage_delivery(rows: int, tag: str, bad_every: int = 97) -> Delivery:
    """A culture department's list of ``rows`` elements, every ``bad_every``-th with no name (quarantined);
    ``tag`` makes it a delivery of its own (its sha256) and its element ids unique to it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    bad = 0
    for i in range(1, rows + 1):
        nameless = bad_every and i % bad_every == 0
        bad += bool(nameless)
        writer.writerow(
            [i, f"F{tag}-{i:07d}", "" if nameless else f"Di sản số {i}", "Lễ hội truyền thống", "Tày",
             "Nà Hang", 2001, "Quốc gia"]
        )  # fmt: skip
    return Delivery(f"danh_muc_{tag}.csv", out.getvalue().encode("utf-8"), rows, bad)


# --- a scratch inbox and archive on the running services ----------------------------------------------


def scratch_settings(base, home: Path):
    """``base`` (the running services) with its inbox and archive in ``home``."""
    s = dataclasses.replace(base, home=home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if base.postgres_password_file.is_file():  # the same server, so its password too
        s.postgres_password_file.parent.mkdir(mode=0o700, exist_ok=True)
        shutil.copy2(base.postgres_password_file, s.postgres_password_file)
    return s


def drop(s, delivery: Delivery) -> Path:
    """The delivery written into the inbox under a temporary name and renamed, as the inbox rule asks."""
    inbox = s.inbox_dir / DATASET
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = inbox / f".{delivery.name}.part"
    part.write_bytes(delivery.data)
    then = time.time() - 60
    os.utime(part, (then, then))
    path = inbox / delivery.name
    part.rename(path)
    return path


CHILD = """
import dataclasses, json, sys
from pathlib import Path
from kho.landing.land import land_inbox
from kho.settings import settings
s = dataclasses.replace(settings(), home=Path(sys.argv[2]))
print(json.dumps([r.as_dict() for r in land_inbox(sys.argv[1], s, stable_seconds=0)]), flush=True)
"""


def start_landing(s) -> subprocess.Popen:
    """``land_inbox`` of the dataset in a child process (its JSON reports on stdout)."""
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, DATASET, str(s.home)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def copy_progress(conn: psycopg.Connection, table: str) -> int | None:
    """Bytes a running ``COPY`` into ``table`` has received so far; None when none is running."""
    row = conn.execute(
        "select bytes_processed from pg_stat_progress_copy where relid = to_regclass(%s)", [table]
    ).fetchone()
    return None if row is None else int(row[0])


def wait_for_copy_bytes(
    conn: psycopg.Connection, child: subprocess.Popen, table: str, offset: int, timeout: float = 300
) -> int | None:
    """Poll until the COPY into ``table`` has received ``offset`` bytes; the bytes seen then, or None if the
    child ended first (the fault missed its point)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return None
        done = copy_progress(conn, table)
        if done is not None and done >= offset:
            return done
        time.sleep(0.002)
    raise TimeoutError(f"no COPY into {table} reached {offset} bytes within {timeout:.0f} s")


# --- what a user checks --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One fault: where it was injected, what the faulted run showed, and the checks after convergence."""

    kind: str
    point: str  # where the fault hit ("COPY at 412,331 of ~1.1 MB", "package_patch: 503 x 4" ...)
    injected: bool = True  # False: the run ended before the fault's point (not counted)
    during: str = ""  # what the faulted run reported (status, the error a user saw)
    rows_expected: int = 0
    rows_delivered: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    lost: int = 0
    duplicates: int = 0
    partial_visible: int = 0  # rows of a killed or failed load visible before the next run
    problems: list[str] = field(default_factory=list)  # any invariant broken (should stay empty)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and self.lost == 0 and self.duplicates == 0 and self.partial_visible == 0


def raw_table(ds) -> sql.Identifier:
    return sql.Identifier(ds.raw_schema, ds.raw_table)


def visible_after_fault(conn: psycopg.Connection, ds, s, delivery: Delivery, out: Outcome) -> None:
    """Right after a fault: nothing of an unfinished load is visible; the file is in the inbox or archived."""
    landed = conn.execute(
        "select load_id, rows_landed from kho_meta.loads"
        " where dataset = %s and file_sha256 = %s and status = 'landed'",
        [ds.id, delivery.sha256],
    ).fetchall()
    (raw,) = conn.execute(
        sql.SQL("select count(*) from {} where _file_sha256 = %s").format(raw_table(ds)), [delivery.sha256]
    ).fetchone()
    if landed:  # the fault came after the commit: then the load must be whole
        if raw != landed[0][1]:
            out.partial_visible += abs(raw - landed[0][1])
            out.problems.append(f"landed load {landed[0][0]} shows {raw} raw rows of {landed[0][1]}")
        return
    if raw:
        out.partial_visible += raw
        out.problems.append(f"{raw} raw rows visible of a load that never committed")
    in_inbox = (s.inbox_dir / DATASET / delivery.name).is_file()
    archived = s.archive_dir / DATASET / delivery.sha256[:2] / f"{delivery.sha256}.csv"
    if not in_inbox and not archived.is_file():
        out.problems.append("the delivery is neither in the inbox nor archived under its sha256")


def converged(conn: psycopg.Connection, ds, s, delivery: Delivery, out: Outcome) -> None:
    """After the next run: one landed load of the file, whole, every row landed or quarantined, once."""
    loads = conn.execute(
        "select load_id, rows_delivered, rows_landed, rows_quarantined from kho_meta.loads"
        " where dataset = %s and file_sha256 = %s and status = 'landed'",
        [ds.id, delivery.sha256],
    ).fetchall()
    out.rows_expected = delivery.rows
    if len(loads) != 1:
        out.problems.append(f"{len(loads)} landed loads of the file, not 1")
        out.lost = delivery.rows if not loads else 0
        return
    load_id, out.rows_delivered, out.rows_landed, out.rows_quarantined = loads[0]
    if out.rows_delivered != out.rows_landed + out.rows_quarantined:
        out.problems.append(
            f"rows_delivered {out.rows_delivered} != landed {out.rows_landed} + quarantined {out.rows_quarantined}"
        )
    raw, keys = conn.execute(
        sql.SQL("select count(*), count(distinct element_id) from {} where _file_sha256 = %s").format(
            raw_table(ds)
        ),
        [delivery.sha256],
    ).fetchone()
    (held,) = conn.execute(
        "select count(*) from kho_meta.quarantine where dataset = %s and load_id = %s", [ds.id, load_id]
    ).fetchone()
    out.duplicates += raw - keys
    if raw != out.rows_landed or held != out.rows_quarantined:
        out.problems.append(f"raw holds {raw} rows (load says {out.rows_landed}), quarantine {held}")
    out.lost += max(0, delivery.rows - keys - held)
    if (delivery.rows, delivery.bad) != (out.rows_delivered, out.rows_quarantined):
        out.problems.append(
            f"expected {delivery.rows} delivered / {delivery.bad} quarantined, load says"
            f" {out.rows_delivered} / {out.rows_quarantined}"
        )
    if (s.inbox_dir / DATASET / delivery.name).exists():
        out.problems.append("the delivery is still in the inbox after it landed")
    leftovers = [p.name for p in (s.archive_dir / DATASET).rglob(".taking-*")]
    if leftovers:
        out.problems.append(f"partial archive copies left: {', '.join(leftovers)}")


def land_again(s) -> list:
    from kho.landing.land import land_inbox

    return land_inbox(DATASET, s, stable_seconds=0)


def forget(conn: psycopg.Connection, ds, sha256s: list[str]) -> None:
    """Remove what the campaign landed (raw rows, quarantine, loads), so the warehouse is as it was."""
    if not sha256s:
        return
    loads = [
        r[0]
        for r in conn.execute(
            "select load_id from kho_meta.loads where dataset = %s and file_sha256 = any(%s)",
            [ds.id, sha256s],
        )
    ]
    conn.execute(sql.SQL("delete from {} where _file_sha256 = any(%s)").format(raw_table(ds)), [sha256s])
    conn.execute("delete from kho_meta.quarantine where load_id = any(%s)", [loads])
    conn.execute("delete from kho_meta.refusal_reasons where load_id = any(%s)", [loads])
    conn.execute("delete from kho_meta.loads where load_id = any(%s)", [loads])


# --- the landing faults --------------------------------------------------------------------------------


class Landing:
    """The landing side of the campaign: deliveries into a scratch inbox, checks on the warehouse."""

    def __init__(self, base, folder: Path, rows: int = 60_000):
        from kho.catalog import catalog

        self.ds = catalog().dataset(DATASET)
        self.s = scratch_settings(base, folder / "home")
        self.base = base
        self.rows = rows
        self.conn = psycopg.connect(base.warehouse_url, autocommit=True)
        self.sha256s: list[str] = []
        self._duration: float | None = None
        self.table = f"{self.ds.raw_schema}.{self.ds.raw_table}"
        from kho.landing.land import ensure_raw_table
        from kho.meta import ensure_meta_schema

        ensure_meta_schema(self.conn)
        ensure_raw_table(self.conn, self.ds)

    def delivery(self, rows: int | None = None) -> Delivery:
        d = heritage_delivery(rows or self.rows, uuid.uuid4().hex[:10])
        self.sha256s.append(d.sha256)
        return d

    def close(self) -> None:
        try:
            forget(self._live(), self.ds, self.sha256s)
        finally:
            self.conn.close()

    def _live(self) -> psycopg.Connection:
        if self.conn.closed or self.conn.broken:
            self.conn = psycopg.connect(self.base.warehouse_url, autocommit=True)
        return self.conn

    def finish(self, out: Outcome, delivery: Delivery, started: float) -> Outcome:
        """Check what the fault left, run the landing again, check it converged."""
        visible_after_fault(self._live(), self.ds, self.s, delivery, out)
        reports = land_again(self.s)
        if any(r.status == "failed" for r in reports):
            out.problems.append("the next run failed too: " + "; ".join(r.error or "" for r in reports))
        converged(self._live(), self.ds, self.s, delivery, out)
        out.seconds = round(time.monotonic() - started, 2)
        return out

    def kill_copy(self, rng: random.Random) -> Outcome:
        """SIGKILL of the landing process once its COPY has received a seeded share of the file."""
        started = time.monotonic()
        delivery = self.delivery()
        offset = int(len(delivery.data) * rng.uniform(0.02, 0.7))
        drop(self.s, delivery)
        child = start_landing(self.s)
        seen = wait_for_copy_bytes(self._live(), child, self.table, offset)
        out = Outcome("kill_copy", f"COPY at {offset:,} B of a {len(delivery.data):,} B file")
        if seen is None:
            out.injected, out.during = False, "the landing ended before the offset"
        else:
            os.killpg(child.pid, signal.SIGKILL)
            out.point = f"COPY at {seen:,} B of a {len(delivery.data):,} B file"
            out.during = f"killed (exit {child.wait()})"
        child.communicate()
        return self.finish(out, delivery, started)

    def duration(self) -> float:
        """Seconds an undisturbed landing of a delivery takes in a child process (measured once)."""
        if self._duration is None:
            delivery = self.delivery()
            drop(self.s, delivery)
            started = time.monotonic()
            child = start_landing(self.s)
            child.communicate()
            self._duration = time.monotonic() - started
        return self._duration

    def kill_any(self, rng: random.Random) -> Outcome:
        """SIGKILL of the landing process a seeded number of seconds after it started (anywhere)."""
        started = time.monotonic()
        delivery = self.delivery()
        delay = rng.uniform(0.02, 1.0) * self.duration()
        drop(self.s, delivery)
        child = start_landing(self.s)
        try:
            child.wait(timeout=delay)
            out = Outcome("kill_any", f"{delay:.2f} s after start", injected=False, during="ended before")
        except subprocess.TimeoutExpired:
            progress = copy_progress(self._live(), self.table)
            os.killpg(child.pid, signal.SIGKILL)
            where = f"COPY at {progress:,} B" if progress is not None else "outside the COPY"
            out = Outcome(
                "kill_any", f"{delay:.2f} s after start ({where})", during=f"killed ({child.wait()})"
            )
        child.communicate()
        return self.finish(out, delivery, started)

    def postgres_restart(self, rng: random.Random) -> Outcome:
        """PostgreSQL stopped through Kho's supervisor in the middle of a COPY, then started again."""
        from kho.operations import supervisor

        started = time.monotonic()
        delivery = self.delivery()
        offset = int(len(delivery.data) * rng.uniform(0.02, 0.6))
        drop(self.s, delivery)
        postmaster = supervisor.pid(self.base, "postgres")
        child = start_landing(self.s)
        seen = wait_for_copy_bytes(self._live(), child, self.table, offset)
        out = Outcome("postgres_restart", f"COPY at {offset:,} B")
        if seen is None or not postmaster:
            out.injected, out.during = False, "the landing ended before the offset"
            child.communicate()
        else:
            out.point = f"COPY at {seen:,} B of a {len(delivery.data):,} B file"
            os.kill(postmaster, signal.SIGINT)  # what supervisorctl stop sends, without its start-up time
            supervisor.stop(self.base, "postgres")  # kept down until the landing has given up
            stdout, stderr = child.communicate(timeout=300)
            supervisor.start(self.base, "postgres")
            wait_for_postgres(self.base)
            self.conn.close()  # its server went away
            out.during = describe_child(child.returncode, stdout, stderr)
            if out.during.startswith("landed"):
                out.injected = False  # committed before the server went down
            if child.returncode != 0:
                out.problems.append(f"the landing process ended with a traceback: {stderr.decode()[-500:]}")
        return self.finish(out, delivery, started)

    def archive_full(self, rng: random.Random) -> Outcome:
        """The archive folder on a tmpfs smaller than the delivery: the run fails clearly, lands nothing,
        leaves the file in the inbox and no partial copy; with room again, the next run lands it."""
        started = time.monotonic()
        delivery = self.delivery(rows=rng.randint(5_000, 20_000))
        size_kb = max(16, len(delivery.data) // 1024 // rng.choice((2, 4, 8)))
        drop(self.s, delivery)
        archive = self.s.archive_dir
        out = Outcome("archive_full", f"archive on a {size_kb} kB tmpfs, delivery {len(delivery.data):,} B")
        with tmpfs(archive, size_kb) as remount:
            if remount is None:
                out.injected, out.during = False, "tmpfs cannot be mounted here (not root?)"
                shutil.rmtree(self.s.inbox_dir / DATASET / delivery.name, ignore_errors=True)
                (self.s.inbox_dir / DATASET / delivery.name).unlink(missing_ok=True)
                return out
            (report,) = land_again(self.s)
            out.during = f"{report.status}: {report.error}"
            if report.status != "failed" or "no space left" not in (report.error or "").lower():
                out.problems.append(f"disk full was not reported as such: {out.during}")
            visible_after_fault(self._live(), self.ds, self.s, delivery, out)
            if not (self.s.inbox_dir / DATASET / delivery.name).is_file():
                out.problems.append("the delivery left the inbox though it could not be archived")
            leftovers = [p.name for p in archive.rglob("*") if p.is_file()]
            if leftovers:
                out.problems.append(f"files left in the full archive: {', '.join(leftovers)}")
            remount(len(delivery.data) // 1024 * 4 + 1024)
            land_again(self.s)
            converged(self._live(), self.ds, self.s, delivery, out)
        out.seconds = round(time.monotonic() - started, 2)
        return out

    def bad_input(self, rng: random.Random, how: str | None = None) -> Outcome:
        """A bad delivery (``how``: cut, flip, empty, binary, header; default: seeded): refused whole, or
        landed with every row landed or quarantined, never half."""
        started = time.monotonic()
        good = heritage_delivery(rng.randint(200, 3_000), uuid.uuid4().hex[:10])
        how = how or rng.choice(BAD_INPUTS)
        data = good.data
        if how == "cut":  # an upload cut short, mid-row
            data = data[: rng.randint(len(HEADER) * 8, len(data) - 1)]
        elif how == "flip":  # bytes damaged in transit
            damaged = bytearray(data)
            for _ in range(rng.randint(1, 20)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            data = bytes(damaged)
        elif how == "empty":
            data = b""
        elif how == "binary":
            data = bytes(rng.randrange(256) for _ in range(rng.randint(10, 5000)))
        else:  # a header the catalog does not know
            data = b"a,b,c\n" + data.split(b"\n", 1)[1]
        delivery = Delivery(f"hong_{uuid.uuid4().hex[:8]}.csv", data, -1, -1)
        self.sha256s.append(delivery.sha256)
        drop(self.s, delivery)
        out = Outcome("bad_input", how + f" ({len(data):,} B)")
        (report,) = land_again(self.s)
        out.during = report.status + (f": {report.error}" if report.error else "")
        if report.status == "failed":
            out.problems.append(f"a bad delivery failed instead of being refused: {report.error}")
        conn = self._live()
        loads = conn.execute(
            "select load_id, status, rows_delivered, rows_landed, rows_quarantined from kho_meta.loads"
            " where dataset = %s and file_sha256 = %s",
            [self.ds.id, delivery.sha256],
        ).fetchall()
        (raw,) = conn.execute(
            sql.SQL("select count(*) from {} where _file_sha256 = %s").format(raw_table(self.ds)),
            [delivery.sha256],
        ).fetchone()
        landed = [row for row in loads if row[1] == "landed"]
        if report.status == "refused" and (landed or raw):
            out.partial_visible += raw
            out.problems.append(f"refused, yet {raw} raw rows and {len(landed)} landed loads")
        if landed:
            _, _, out.rows_delivered, out.rows_landed, out.rows_quarantined = landed[0]
            if out.rows_delivered != out.rows_landed + out.rows_quarantined or raw != out.rows_landed:
                out.problems.append(f"landed {landed[0][1:]} with {raw} raw rows")
        if (self.s.inbox_dir / DATASET / delivery.name).exists():
            out.problems.append("a bad delivery stayed in the inbox")
        out.seconds = round(time.monotonic() - started, 2)
        return out


def describe_child(code: int | None, stdout: bytes, stderr: bytes) -> str:
    try:
        reports = json.loads(stdout.decode().strip().splitlines()[-1])
        return "; ".join(f"{r['status']}: {r['error']}" for r in reports)
    except (IndexError, ValueError):
        return f"exit {code}: {(stderr.decode(errors='replace').strip().splitlines() or [''])[-1]}"


def wait_for_postgres(s, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(s.warehouse_url, connect_timeout=5) as conn:
                conn.execute("select 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@contextmanager
def tmpfs(where: Path, size_kb: int) -> Iterator[Callable[[int], None] | None]:
    """A tmpfs of ``size_kb`` mounted at ``where`` (a disk that fills up), or None if mounting is not
    allowed here; yields a function that gives it another size. Unmounted at the end."""
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "kho-faults", str(where)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        yield None
        return

    def resize(kb: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={kb}k", str(where)], check=True, capture_output=True)

    try:
        yield resize
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def can_mount_tmpfs() -> bool:
    with tempfile.TemporaryDirectory() as folder, tmpfs(Path(folder) / "t", 64) as ok:
        return ok is not None


# --- CKAN faults ---------------------------------------------------------------------------------------

# (request number from 1, action) -> what the proxy does: "forward", "503", "drop" (close the connection
# without an answer), "lose" (forward, then answer 502 as if the connection broke after CKAN did the work),
# or "twice" (forward it, then forward it again and answer that: another run's same call got there first)
Plan = Callable[[int, str], str]


class FaultyProxy:
    """An HTTP proxy to CKAN that fails requests as its plan says; it records every action it saw."""

    def __init__(self, target: str, plan: Plan):
        self.target = urlsplit(target)
        self.plan = plan
        self.seen: list[tuple[str, str]] = []  # (action, what was done)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self.relay()

            def do_POST(self) -> None:  # noqa: N802
                self.relay()

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
                with proxy.lock:
                    number = len(proxy.seen) + 1
                    todo = proxy.plan(number, action)
                    proxy.seen.append((action, todo))
                if todo == "503":
                    return self.answer(503, b"Service Unavailable", "text/plain")
                if todo == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                status, content_type, data = proxy.forward(self.command, self.path, self.headers, body)
                if todo == "twice":
                    status, content_type, data = proxy.forward(self.command, self.path, self.headers, body)
                if todo == "lose":
                    return self.answer(502, b"Bad Gateway", "text/plain")
                self.answer(status, data, content_type)

            def answer(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=300)
        keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
        conn.request(method, path, body=body, headers=keep)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, response.getheader("Content-Type", "application/json"), data

    def actions(self, todo: str | None = None) -> list[str]:
        return [a for a, t in self.seen if todo is None or t == todo]

    def start(self) -> FaultyProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


METADATA_ACTIONS = (
    "package_show", "organization_show", "organization_create", "package_create", "package_patch",
    "group_show", "member_create", "resource_create", "resource_patch", "resource_view_list",
    "resource_view_create",
)  # fmt: skip
UPSERT_BATCH = 500
DATASTORE_ACTIONS = ("datastore_create", "datastore_upsert", "datastore_search", "datastore_delete")


class Publishing:
    """The publishing side: a mart of its own (rows generated), published through a faulty proxy."""

    def __init__(self, base, folder: Path, rows: int = 2_500):
        from kho.catalog import Publish, catalog
        from tests.integration.conftest_ckan import COLUMNS, write_manifest

        self.s = base
        self.suffix = uuid.uuid4().hex[:8]
        self.table = f"fault_crop_{self.suffix}"
        self.ident = sql.Identifier("marts", self.table)
        real = catalog().dataset("crop_statistics")
        self.dataset = real.model_copy(
            update={"id": f"fault_crop_{self.suffix}", "publish": Publish(model=self.table)}
        )
        self._conn = psycopg.connect(base.warehouse_url, autocommit=True)
        self.conn.execute("create schema if not exists marts")
        self.conn.execute(sql.SQL("create table {} ({})").format(self.ident, sql.SQL(COLUMNS)))
        self.manifest = write_manifest(folder / "manifest.json", self.table)
        self.rows = rows
        self.edition = 0
        self._calls: dict[str, list[str]] = {}
        from publishers import ckan

        # datastore_upsert batches of 500 records, so that a fault can hit one of several
        self.chunk, ckan.CHUNK_SIZE = ckan.CHUNK_SIZE, UPSERT_BATCH
        self.refill()

    @property
    def conn(self) -> psycopg.Connection:
        """The warehouse, connected again after a PostgreSQL restart (the landing faults restart it)."""
        if self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.s.warehouse_url, autocommit=True)
        else:
            try:
                self._conn.execute("select 1")
            except psycopg.OperationalError:
                self._conn = psycopg.connect(self.s.warehouse_url, autocommit=True)
        return self._conn

    def refill(self) -> None:
        """New figures for every row (each fault publishes a change)."""
        self.edition += 1
        self.conn.execute(sql.SQL("truncate {}").format(self.ident))
        self.conn.execute(
            sql.SQL(
                """
                insert into {} select
                    lpad(mod(i, 97)::text, 2, '0'), lpad(mod(i, 34)::text, 2, '0'), 'Tỉnh số ' || mod(i, 97),
                    (array['paddy', 'maize', 'cassava'])[mod(i, 3) + 1], 'season_' || i, 1990 + mod(i, 35),
                    (i * 1.5)::numeric, (i * 7.25 + %s)::numeric, round(mod(i, 100) / 10.0, 2), mod(i, 2) = 0
                from generate_series(1, %s) as i
                """
            ).format(self.ident),
            [self.edition, self.rows],
        )

    def publish(self, url: str | None = None, how: str = "auto", attempts: int = 3):
        from publishers.ckan import publish
        from publishers.portal import Retry, client

        ckan = client(url or self.s.ckan_url, self.s.ckan_api_token)
        return publish(
            self.dataset, self.s, ckan=ckan, retry=Retry(attempts=attempts, backoff_s=0.05, max_wait_s=0.2),
            manifest=self.manifest, datastore_load=how,
        )  # fmt: skip

    def faulted(self, kind: str, plan: Plan, point: str, how: str = "auto") -> Outcome:
        """Publish through a proxy failing as ``plan`` says, then publish again directly; check the portal."""
        from kho.errors import KhoError

        started = time.monotonic()
        self.refill()
        out = Outcome(kind, point)
        proxy = FaultyProxy(self.s.ckan_url, plan).start()
        try:
            result = self.publish(proxy.url, how)
            out.during = f"{result.status} (the retries absorbed it)"
        except KhoError as exc:
            out.during = f"failed: {exc}"
            if not str(exc).startswith(self.dataset.id):
                out.problems.append(f"the error does not name the dataset: {exc}")
        except Exception as exc:  # noqa: BLE001 - what a user would see as a traceback
            out.problems.append(f"unexpected {type(exc).__name__}: {exc}")
            out.during = f"crashed: {type(exc).__name__}: {exc}"
        finally:
            proxy.stop()
        if not any(todo != "forward" for _, todo in proxy.seen):
            out.injected = False
        rows, keys = self.datastore_counts()
        if rows != keys:  # what the public sees until the next run
            out.duplicates += rows - keys
            out.problems.append(f"after the faulted run the DataStore shows {rows - keys} duplicate rows")
        self.publish(how=how)
        self.check(out)
        out.seconds = round(time.monotonic() - started, 2)
        return out

    def check(self, out: Outcome) -> None:
        """One dataset, one resource per file, the DataStore holding exactly the mart's rows, no duplicate."""
        from publishers.metadata import ckan_name

        ckan = self._admin()
        name = ckan_name(self.dataset.id)
        found = ckan.action.package_search(q=f"name:{name}", include_private=True, include_drafts=True)
        if found["count"] != 1:
            out.problems.append(f"{found['count']} datasets named {name}")
            return
        pkg = ckan.action.package_show(id=name)
        kinds = [r.get("kho_kind") for r in pkg["resources"]]
        if sorted(kinds) != sorted(set(kinds)) or len(kinds) != 3:
            out.problems.append(f"resources {kinds}")
        rows, keys = self.datastore_counts()
        (mart_rows,) = self.conn.execute(sql.SQL("select count(*) from {}").format(self.ident)).fetchone()
        out.rows_expected = out.rows_delivered = mart_rows
        out.rows_landed = rows
        out.duplicates += rows - keys
        out.lost += max(0, mart_rows - keys)
        if rows != mart_rows:
            out.problems.append(f"the DataStore holds {rows} rows, the mart {mart_rows}")
        digest = {r.get("kho_content_hash") for r in pkg["resources"]}
        if len(digest) != 1:
            out.problems.append("the files' content hashes differ")

    def datastore_counts(self) -> tuple[int, int]:
        """(rows, distinct keys) of the dataset's DataStore table, as anyone can ask the portal."""
        from publishers.metadata import ckan_name

        pkg = self._admin().action.package_show(id=ckan_name(self.dataset.id))
        csv_resource = next((r for r in pkg["resources"] if r.get("kho_kind") == "mart_csv"), None)
        if csv_resource is None or not csv_resource.get("datastore_active"):
            return 0, 0
        result = self._admin().action.datastore_search_sql(
            sql=f"select count(*) as n, count(distinct (crop, season, year, province_code)) as k"  # noqa: S608
            f' from "{csv_resource["id"]}"'
        )["records"][0]
        return int(result["n"]), int(result["k"])

    def _admin(self):
        from ckanapi import RemoteCKAN

        return RemoteCKAN(self.s.ckan_url, apikey=self.s.ckan_api_token)

    def calls(self, how: str) -> list[str]:
        """The CKAN actions an update's publish calls, in order (``how``: the DataStore load), recorded once
        through a proxy that forwards everything."""
        if how not in self._calls:
            self.refill()
            proxy = FaultyProxy(self.s.ckan_url, lambda _n, _a: "forward").start()
            try:
                self.publish(proxy.url, how)
            finally:
                proxy.stop()
            self._calls[how] = proxy.actions()
        return self._calls[how]

    def failing(self, call: int, action: str, todo: str, times: int) -> Plan:
        """A plan failing the ``call``-th request (an ``action``) and its retries, ``times`` in all."""
        state = {"failed": 0}

        def plan(n: int, seen: str) -> str:
            if n >= call and seen == action and state["failed"] < times:
                state["failed"] += 1
                return todo
            return "forward"

        return plan

    def ckan_metadata(self, rng: random.Random) -> Outcome:
        """A metadata call (dataset, resources, views) answered 503, its connection dropped, or its answer
        lost after CKAN did the work; once, twice (the retries absorb it), or for good (the run fails)."""
        how = rng.choice(("copy", "api"))
        calls = [(i, a) for i, a in enumerate(self.calls(how), 1) if a not in DATASTORE_ACTIONS]
        call, action = rng.choice(calls)
        todo = rng.choice(("503", "drop", "lose"))
        times = rng.choice((1, 2, 10))  # 10: more than the attempts, the run fails
        point = f"call {call} ({action}): {todo} x {times}, DataStore by {how}"
        return self.faulted("ckan_metadata", self.failing(call, action, todo, times), point, how)

    def ckan_datastore(self, rng: random.Random) -> Outcome:
        """CKAN failing while the DataStore is loaded: with COPY (a call made around the COPY fails), or
        through datastore_upsert (a batch refused, its connection dropped, or its answer lost)."""
        how = rng.choice(("copy", "api"))
        calls = list(enumerate(self.calls(how), 1))
        first = next(i for i, a in calls if a == "datastore_create")
        last = max(i for i, a in calls if a in DATASTORE_ACTIONS)
        call, action = rng.choice([(i, a) for i, a in calls if first <= i <= last + 1])
        todo = rng.choice(("503", "drop", "lose"))
        times = rng.choice((1, 2, 10))
        point = f"call {call} ({action}): {todo} x {times}, DataStore by {how}"
        return self.faulted("ckan_datastore", self.failing(call, action, todo, times), point, how)

    def close(self) -> None:
        from publishers import ckan
        from publishers.metadata import ckan_name

        ckan.CHUNK_SIZE = self.chunk
        try:
            self._admin().action.dataset_purge(id=ckan_name(self.dataset.id))
        except Exception:  # noqa: BLE001 - nothing was made
            pass
        self.conn.execute(sql.SQL("drop table if exists {}").format(self.ident))
        self.conn.execute("delete from kho_meta.publications where dataset = %s", [self.dataset.id])
        self._conn.close()


# --- the campaign --------------------------------------------------------------------------------------


def run(kinds: list[str], per_kind: int, seed: int, folder: Path, echo=print, rows: int = 60_000) -> dict:
    """Inject ``per_kind`` faults of each kind (seeded); every outcome and the totals."""
    from kho.settings import settings

    base = settings()
    rng = random.Random(seed)
    outcomes: list[Outcome] = []
    landing = Landing(base, folder, rows=rows) if set(kinds) - {"ckan_metadata", "ckan_datastore"} else None
    publishing = Publishing(base, folder) if {"ckan_metadata", "ckan_datastore"} & set(kinds) else None
    try:
        if publishing:
            publishing.publish()  # a first version out there: most faults interrupt an update
        for kind in kinds:
            side = publishing if kind.startswith("ckan_") else landing
            for i in range(per_kind):
                out = getattr(side, kind)(random.Random(rng.random()))
                outcomes.append(out)
                mark = "ok" if out.ok else "PROBLEM"
                echo(
                    f"  {kind} #{i + 1}: {out.point}: {out.during[:160]} -> {mark} {'; '.join(out.problems)}"
                )
    finally:
        if landing:
            landing.close()
        if publishing:
            publishing.close()
    return summarise(outcomes, seed, per_kind)


def summarise(outcomes: list[Outcome], seed: int, per_kind: int) -> dict:
    injected = [o for o in outcomes if o.injected]
    per = {}
    for kind in dict.fromkeys(o.kind for o in outcomes):
        mine = [o for o in injected if o.kind == kind]
        per[kind] = {
            "injected": len(mine),
            "missed": sum(1 for o in outcomes if o.kind == kind and not o.injected),
            "converged": sum(o.ok for o in mine),
            "rows_checked": sum(o.rows_delivered for o in mine),
            "lost": sum(o.lost for o in mine),
            "duplicates": sum(o.duplicates for o in mine),
            "partial_visible": sum(o.partial_visible for o in mine),
        }
    bad = [o for o in injected if o.kind == "bad_input"]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "seed": seed,
        "per_kind": per_kind,
        "faults_injected": sum(1 for o in injected if o.kind != "bad_input"),
        "bad_inputs_tried": len(bad),
        "rows_lost": sum(o.lost for o in injected),
        "duplicates": sum(o.duplicates for o in injected),
        "partial_loads_visible": sum(o.partial_visible for o in injected),
        "problems": [f"{o.kind} {o.point}: {p}" for o in injected for p in o.problems],
        "kinds": per,
        "outcomes": [asdict(o) for o in outcomes],
    }


def _commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True)
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def table(summary: dict) -> str:
    lines = [
        f"{'kind':<18} {'injected':>8} {'missed':>6} {'converged':>9} {'rows':>9} {'lost':>5} {'dup':>4} {'partial':>7}"
    ]
    for kind, k in summary["kinds"].items():
        lines.append(
            f"{kind:<18} {k['injected']:>8} {k['missed']:>6} {k['converged']:>9} {k['rows_checked']:>9,}"
            f" {k['lost']:>5} {k['duplicates']:>4} {k['partial_visible']:>7}"
        )
    lines.append(
        f"faults injected {summary['faults_injected']}, bad inputs tried {summary['bad_inputs_tried']}, "
        f"rows lost {summary['rows_lost']}, duplicates {summary['duplicates']}, "
        f"partial loads visible {summary['partial_loads_visible']}, problems {len(summary['problems'])}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    p.add_argument("--per-kind", type=int, default=5, help="faults of each kind (default 5)")
    p.add_argument("--seed", type=int, default=14, help="the random seed (default 14)")
    p.add_argument("--only", action="append", choices=KINDS, help="only this kind (repeatable)")
    p.add_argument("--rows", type=int, default=60_000, help="rows of each landing delivery (default 60,000)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "faults.json", help="where the figures go")
    opts = p.parse_args(argv)
    from kho.settings import keep_private

    keep_private()
    kinds = list(opts.only or KINDS)
    with tempfile.TemporaryDirectory(prefix="kho-faults-") as folder:
        summary = run(kinds, opts.per_kind, opts.seed, Path(folder), rows=opts.rows)
    print(table(summary))
    for problem in summary["problems"]:
        print(f"problem: {problem}")
    opts.out.write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"figures written to {opts.out}")
    return 1 if summary["problems"] or summary["rows_lost"] or summary["duplicates"] else 0


if __name__ == "__main__":
    sys.exit(main())
