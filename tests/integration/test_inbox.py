"""The inbox on the real PostgreSQL: only regular, complete files are taken; the file removed is the one
archived; a file that cannot be landed now stays for the next run without holding back the others."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import stat
import threading
import time

import pytest

import kho.landing.land as land_module
from kho.landing.land import land_inbox, release, take
from kho.settings import REPO

DATASET = "crop_statistics"
SAMPLE = REPO / "samples" / "crop_statistics" / "production_maize.csv"


@pytest.fixture
def s(stack, tmp_path):
    """The test services' warehouse, with an inbox and archive of the test's own."""
    base, _ = stack
    s = dataclasses.replace(base, home=tmp_path)
    if base.postgres_password_file.is_file():  # the same server, so its password too
        s.postgres_password_file.parent.mkdir(mode=0o700, exist_ok=True)
        shutil.copy2(base.postgres_password_file, s.postgres_password_file)
    return s


def variant(n: int) -> bytes:
    """The maize sample, made a new delivery (a new sha256) by its first figure."""
    text = SAMPLE.read_bytes()
    assert b";3822.2;" in text
    return text.replace(b";3822.2;", f";3822.2{n};".encode(), 1)


def forget(warehouse, data: bytes) -> None:
    """Let a delivery land again on a re-run of the suite (the warehouse outlives the test session)."""
    sha = hashlib.sha256(data).hexdigest()
    warehouse.execute("delete from kho_meta.loads where file_sha256 = %s", [sha])


def deliver(s, name: str, data: bytes, warehouse, age: float = 60) -> os.PathLike:
    """A file dropped into the inbox ``age`` seconds ago."""
    inbox = s.inbox_dir / DATASET
    inbox.mkdir(parents=True, exist_ok=True)
    forget(warehouse, data)
    path = inbox / name
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def archived_files(s) -> list:
    return [p for p in (s.archive_dir / DATASET).rglob("*") if p.is_file()]


def test_links_pipes_and_folders_are_refused_unread(s, warehouse, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    inbox = s.inbox_dir / DATASET
    inbox.mkdir(parents=True)
    (inbox / "link.csv").symlink_to(secret)
    os.mkfifo(inbox / "pipe.csv")  # reading it would wait for ever
    (inbox / "folder.csv").mkdir()
    reports = land_inbox(DATASET, s, stable_seconds=0)
    assert sorted((r.source_file, r.status, r.error) for r in reports) == [
        ("folder.csv", "refused", f"{DATASET}: folder.csv: expected a regular file, found a folder"),
        (
            "link.csv",
            "refused",
            f"{DATASET}: link.csv: expected a regular file, found a symbolic link (not followed)",
        ),
        ("pipe.csv", "refused", f"{DATASET}: pipe.csv: expected a regular file, found a named pipe"),
    ]
    assert archived_files(s) == []  # nothing read, nothing kept
    assert warehouse.execute(
        "select count(*) from kho_meta.loads where error like '%hunter2%'"
    ).fetchone() == (0,)
    assert sorted(p.name for p in inbox.iterdir()) == ["folder.csv"]  # the link and pipe go; a folder stays
    assert secret.read_text() == "password=hunter2\n"  # what the link pointed at is untouched


def test_archive_copy_is_private_and_the_delivery_leaves_the_inbox(s, warehouse):
    data = variant(1)
    path = deliver(s, "maize_1.csv", data, warehouse)
    (report,) = land_inbox(DATASET, s, stable_seconds=0)
    assert (report.status, report.rows_delivered) == ("landed", 71)
    archived = s.archive_dir / DATASET / report.file_sha256[:2] / f"{report.file_sha256}.csv"
    assert report.archived_path == str(archived) and archived.read_bytes() == data
    assert stat.S_IMODE(archived.stat().st_mode) == 0o600
    for folder in (s.archive_dir, s.archive_dir / DATASET, archived.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert archived_files(s) == [archived]  # no part file left
    assert not path.exists()


def test_hidden_and_part_files_are_never_taken(s, warehouse):
    for name in (".maize.csv", "maize.csv.part", "maize.csv.tmp"):
        deliver(s, name, variant(2), warehouse)
    assert land_inbox(DATASET, s, stable_seconds=0) == []
    assert len(list((s.inbox_dir / DATASET).iterdir())) == 3


def test_a_file_still_being_written_is_left_then_lands_whole(s, warehouse):
    data = variant(3)
    forget(warehouse, data)
    inbox = s.inbox_dir / DATASET
    inbox.mkdir(parents=True)
    path = inbox / "maize_slow.csv"
    pieces = [data[i : i + 200] for i in range(0, len(data), 200)]
    assert len(pieces) > 20
    done = threading.Event()
    started = threading.Event()

    def write_slowly() -> None:
        """A copy over a slow line: a piece every 0.1 s, the last ones only once the test says so."""
        with path.open("wb") as f:
            for piece in pieces[:-1]:
                f.write(piece)
                f.flush()
                started.set()
                if done.wait(0.1):
                    break
            rest = data[f.tell() :]
            f.write(rest)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    try:
        assert started.wait(10)
        assert land_inbox(DATASET, s, stable_seconds=1) == []  # changing while watched: left
        assert path.exists() and archived_files(s) == []
    finally:
        done.set()
        writer.join()
    (report,) = land_inbox(DATASET, s, stable_seconds=1)
    assert (report.status, report.rows_delivered, report.rows_landed) == ("landed", 71, 71)
    assert report.file_sha256 == hashlib.sha256(data).hexdigest()
    assert not path.exists()


def test_a_file_that_cannot_be_landed_now_stays_and_the_others_land(s, warehouse):
    files = {f"maize_{n}.csv": variant(n) for n in (4, 5, 6)}
    shas = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    assert len({sha[:2] for sha in shas.values()}) == 3
    for name, data in files.items():
        deliver(s, name, data, warehouse)
    # The archive cannot take maize_5.csv: where its folder must go, something else is (a disk problem).
    blocker = s.archive_dir / DATASET / shas["maize_5.csv"][:2]
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    reports = {r.source_file: r for r in land_inbox(DATASET, s, stable_seconds=0)}
    assert {name: r.status for name, r in reports.items()} == {
        "maize_4.csv": "landed",
        "maize_5.csv": "failed",
        "maize_6.csv": "landed",
    }
    assert reports["maize_5.csv"].summary().startswith(f"{DATASET}: maize_5.csv: failed: not landed now (")
    assert reports["maize_5.csv"].error.endswith("left in the inbox, tried again next run")
    assert sorted(p.name for p in (s.inbox_dir / DATASET).iterdir()) == ["maize_5.csv"]

    blocker.unlink()  # the disk is fixed: the next run lands it
    (again,) = land_inbox(DATASET, s, stable_seconds=0)
    assert (again.source_file, again.status, again.rows_landed) == ("maize_5.csv", "landed", 71)
    assert not any((s.inbox_dir / DATASET).iterdir())


def test_an_unreachable_database_leaves_every_file_for_the_next_run(s, warehouse):
    for n in (7, 8):
        deliver(s, f"maize_{n}.csv", variant(n), warehouse)
    down = dataclasses.replace(s, external_postgres="postgresql://postgres@127.0.0.1:9")  # nothing listens
    if os.environ.get("KHO_WAREHOUSE_URL"):
        pytest.skip("KHO_WAREHOUSE_URL is set: the warehouse cannot be pointed elsewhere")
    reports = land_inbox(DATASET, down, stable_seconds=0)
    assert [(r.source_file, r.status) for r in reports] == [
        ("maize_7.csv", "failed"),
        ("maize_8.csv", "failed"),
    ]
    assert all("the warehouse database did not answer: connection failed" in r.error for r in reports)
    assert len(list((s.inbox_dir / DATASET).iterdir())) == 2
    assert [r.status for r in land_inbox(DATASET, s, stable_seconds=0)] == ["landed", "landed"]


def test_a_refused_delivery_is_archived_and_leaves_the_inbox(s, warehouse):
    data = variant(9).replace(b"Production of maize", b"Production of cereals per capita", 1)
    assert data != variant(9)
    path = deliver(s, "maize_bad.csv", data, warehouse)
    (report,) = land_inbox(DATASET, s, stable_seconds=0)
    assert report.status == "refused" and report.error.startswith(f"{DATASET}: maize_bad.csv, line 1:")
    assert open(report.archived_path, "rb").read() == data
    assert not path.exists()


def test_only_the_file_archived_is_removed(s, warehouse):
    data = variant(10)
    path = deliver(s, "maize_10.csv", data, warehouse)
    taken = take(path, DATASET, s)
    path.write_bytes(data + b"\r\n")  # rewritten meanwhile
    assert not release(path, taken) and path.exists()

    taken = take(path, DATASET, s)
    replacement = path.with_name("maize_10.csv.new")
    replacement.write_bytes(path.read_bytes())  # the same bytes, but another file put in its place
    replacement.replace(path)
    assert not release(path, taken) and path.exists()

    taken = take(path, DATASET, s)
    assert release(path, taken) and not path.exists()


def test_a_file_the_fetch_renamed_in_is_taken_without_waiting(s, warehouse, monkeypatch):
    """A pull source's fetch writes the whole file, then renames it into the inbox: the landing after it
    takes that file at once. A file an agency put there as recently is still watched before it is taken."""
    slept: list[float] = []

    class Clock:
        """The landing module's clock, recording how long it waits for files to settle."""

        def __getattr__(self, name):
            return getattr(time, name)

        def sleep(self, seconds: float) -> None:
            slept.append(seconds)
            time.sleep(seconds)

    monkeypatch.setattr(land_module, "time", Clock())
    inbox = s.inbox_dir / DATASET
    inbox.mkdir(parents=True)
    fetched, dropped = variant(41), variant(42)
    forget(warehouse, fetched)
    forget(warehouse, dropped)
    (inbox / "crop_statistics-fetched.csv").write_bytes(fetched)
    (report,) = land_inbox(DATASET, s, stable_seconds=2, fetched=["crop_statistics-fetched.csv"])
    assert (report.status, report.source_file, slept) == ("landed", "crop_statistics-fetched.csv", [])
    (inbox / "dropped.csv").write_bytes(dropped)
    (report,) = land_inbox(DATASET, s, stable_seconds=2, fetched=["crop_statistics-fetched.csv"])
    assert (report.status, report.source_file, slept) == ("landed", "dropped.csv", [2])
