"""The database connector against a real PostgreSQL holding the demo portal (demo/portal_db.py): the read-only
login cannot write, the query runs read-only and under a time limit, and the same result gives the same file,
which landing then skips.

The module starts an embedded PostgreSQL of its own under a temporary KHO_HOME, so it needs no running stack.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import socket
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from demo import portal_db
from kho.catalog import CatalogError, catalog
from kho.delivering import database
from kho.landing.land import land_file
from kho.operations.services import ensure_database, start_postgres, stop_postgres
from kho.settings import REPO, Settings

DATASET = "admin_procedures"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s():
    home = Path(tempfile.mkdtemp(prefix="kho-dbconn-"))
    home.chmod(0o755)  # as root, PostgreSQL runs as another user, who must reach its data directory
    settings = Settings(repo=REPO, home=home, port_base=_free_port() - 32, external_postgres=None)
    try:
        start_postgres(settings)
        ensure_database("kho", s=settings)
        portal_db.ensure(settings)
        yield settings
    finally:
        stop_postgres(settings)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def inbox(s):
    folder = s.inbox_dir / DATASET
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def dataset(**source):
    ds = catalog().dataset(DATASET)
    return ds.model_copy(update={"source": ds.source.model_copy(update=source)})


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_the_reader_login_can_read_but_not_write(s):
    with psycopg.connect(portal_db.reader_url(s), autocommit=True) as conn:
        assert conn.execute("select count(*) from motcua.ho_so").fetchone()[0] > 60_000
        assert conn.execute("show default_transaction_read_only").fetchone()[0] == "on"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("delete from motcua.ho_so")
        # Even in a transaction it asks to be writable, the login has no right to write.
        with conn.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("set transaction read write")
            conn.execute("update motcua.don_vi set ten_don_vi = 'x'")
        with conn.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("set transaction read write")
            conn.execute("create table motcua.kho_was_here (id int)")


def test_demo_portal_is_built_once(s):
    with psycopg.connect(s.database_url("portal_demo")) as conn:
        before = conn.execute("select xmin::text from motcua.don_vi limit 1").fetchone()
    portal_db.ensure(s)
    with psycopg.connect(s.database_url("portal_demo")) as conn:
        assert conn.execute("select xmin::text from motcua.don_vi limit 1").fetchone() == before


def test_result_lands_in_the_inbox_as_csv_by_catalog_columns_in_key_order(s, inbox):
    path = database.fetch(catalog().dataset(DATASET), s)
    assert path.parent == inbox and path.suffix == ".csv"
    assert sorted(p.name for p in inbox.iterdir()) == [path.name]  # no part file left behind
    got = rows(path)
    assert list(got[0]) == [c.name for c in catalog().dataset(DATASET).columns]
    keys = [(r["unit_code"], r["month"]) for r in got]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    with psycopg.connect(s.database_url("portal_demo")) as conn:
        dossiers, units = conn.execute(
            "select count(*), count(distinct ma_don_vi) from motcua.ho_so"
        ).fetchone()
    assert sum(int(r["received"]) for r in got) == dossiers
    assert len({r["unit_code"] for r in got}) == units == 60
    assert {r["unit_level"] for r in got} == {"so", "xa"}
    commune = next(r for r in got if r["unit_level"] == "xa")
    assert commune["commune_name"] and commune["month"].endswith("-01")
    department = next(r for r in got if r["unit_level"] == "so")
    assert department["commune_name"] == ""  # null: a department has no commune


def test_same_result_same_file_and_landing_skips_it(s, inbox):
    first = database.fetch(catalog().dataset(DATASET), s)
    content = first.read_bytes()
    landed = land_file(DATASET, first, s=s)
    assert (
        landed.status == "landed" and landed.rows_landed == len(rows(first)) and landed.rows_quarantined == 0
    )
    first.unlink()  # landing consumed it, as the inbox does

    again = database.fetch(catalog().dataset(DATASET), s)
    assert again.name == first.name
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(content).digest()
    assert land_file(DATASET, again, s=s).status == "skipped"


def test_the_query_runs_read_only_even_with_a_login_that_could_write(s, inbox):
    with psycopg.connect(s.database_url("portal_demo"), autocommit=True) as conn:
        conn.execute("create sequence if not exists public.kho_probe")
    query = catalog().dataset(DATASET).source.query
    writer = dataset(
        connection=s.database_url("portal_demo"),  # the superuser: only the transaction stops the write
        query=f"select * from ({query}) as extract where nextval('public.kho_probe') > 0",  # noqa: S608
    )
    with pytest.raises(database.SourceDatabaseError, match="read-only"):
        database.fetch(writer, s)
    assert not any(inbox.iterdir())


def test_a_slow_query_is_cancelled_at_the_catalogs_deadline(s, inbox):
    slow = dataset(
        query=catalog().dataset(DATASET).source.query + " having pg_sleep(0.05) is not null", deadline_s=1
    )
    started = time.monotonic()
    with pytest.raises(database.SourceDatabaseError) as err:
        database.fetch(slow, s)
    assert time.monotonic() - started < 6  # 1 s, loosely
    assert "expected the whole result within 1 s (source.deadline_s)" in str(err.value)
    assert "statement timeout" in str(err.value)
    assert not any(inbox.iterdir())  # the part file is removed


def test_a_result_over_max_bytes_is_refused_while_read(s, inbox):
    with pytest.raises(database.SourceDatabaseError) as err:
        database.fetch(dataset(max_bytes=10_000), s)
    assert str(err.value).startswith(f"{DATASET}: source database 127.0.0.1:")
    assert "expected a result of at most 10,000 bytes as CSV (source.max_bytes), found more" in str(err.value)
    assert not any(inbox.iterdir())


def test_an_empty_result_writes_nothing(s, inbox):
    empty = dataset(query=catalog().dataset(DATASET).source.query + " having count(*) < 0")
    assert database.fetch(empty, s) is None
    assert not any(inbox.iterdir())


def test_an_unknown_placeholder_is_a_catalog_error(s, inbox):
    with pytest.raises(CatalogError, match="KHO_NO_SUCH_URL"):
        database.fetch(dataset(connection="${KHO_NO_SUCH_URL}"), s)


def test_an_unreachable_database_is_named_without_its_password(s, inbox):
    url = f"postgresql://kho_reader:secret@127.0.0.1:{_free_port()}/portal_demo"
    with pytest.raises(database.SourceDatabaseError) as err:
        database.fetch(dataset(connection=url), s)
    assert "portal_demo" in str(err.value) and "secret" not in str(err.value)
