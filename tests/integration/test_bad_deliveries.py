"""The bad-delivery corpus (tests/corpus/): each file, landed by the real ``land_file`` in the real
PostgreSQL, gives the outcome tests/corpus/expected.yml records for it, and every row is accounted for.

For every entry: the refusal's fields (dataset, file, line, column, expected, found) or the counts and each
quarantined row; ``rows_delivered = rows_landed + rows_quarantined`` in ``kho_meta.loads``, in the raw table
and in ``kho_meta.quarantine``; the file archived under its sha256 (refused ones too, with a refused load
recorded and nothing landed); no table created or dropped by the delivery. A few entries also go through
``kho land`` (one line on stderr, exit 1) and a few through the raw Great Expectations suite.

Isolation: the warehouse outlives the test session and a file whose sha256 already landed is skipped, so each
test first forgets earlier loads of its file (loads, quarantined rows, raw rows, quality runs), and removes
what it landed when it ends.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

import pytest
import yaml
from psycopg import sql

from kho.catalog import Dataset, catalog
from kho.errors import DeliveryError
from kho.landing.land import ensure_raw_table, land_file, safe_file_name
from kho.meta import ensure_meta_schema
from kho.settings import REPO
from tests.corpus import make_corpus

CORPUS = REPO / "tests" / "corpus"
ENTRIES: list[dict] = yaml.safe_load((CORPUS / "expected.yml").read_text(encoding="utf-8"))
KHO = REPO / ".kho" / "venvs" / "main" / "bin" / "kho"
NOT_DELIVERIES = {"README.md", "expected.yml", "make_corpus.py", "__init__.py", ".gitignore"}
# The kinds of bad delivery issue 3 asks the corpus to cover; each entry's `case` is one of these or another.
CASES = {
    "wrong encoding",
    "mixed encoding",
    "missing column",
    "extra column",
    "renamed column",
    "duplicated column",
    "empty file",
    "header only",
    "truncated or corrupt xlsx",
    "password-protected xlsx",
    "HTML saved as .xls",
    "text in a number column",
    "negative value",
    "absurd value",
    "mixed date formats",
    "duplicate keys",
    "unknown commune",
    "formula cells",
    "cells starting with = + - @",
    "NUL bytes",
    "1 MB line",
    "zip bomb disguised as xlsx",
    "path traversal in the file name",
    "SQL-looking column headers",
}


def params(entries: list[dict], test: str) -> list:
    """One test per entry; a known bug in Kho is an expected failure of that test until it is fixed (then the
    test passes, and the strict xfail asks for the entry's ``known_bug`` to go)."""
    out = []
    for e in entries:
        bug = e.get("known_bug")
        marks = [pytest.mark.xfail(reason=bug["reason"], strict=True)] if bug and bug["test"] == test else []
        out.append(pytest.param(e, id=e["file"], marks=marks))
    return out


@functools.cache
def corpus_bytes(name: str) -> bytes:
    """A corpus file as committed, or as make_corpus.py builds it (the large ones are not committed)."""
    path = CORPUS / name
    return path.read_bytes() if path.exists() else make_corpus.build(name)


def delivered_name(entry: dict) -> str:
    return entry.get("delivered_as", entry["file"])


def landed_name(entry: dict) -> str:
    """The file name Kho records: the delivered name without directories or odd characters."""
    name = entry.get("source_file", entry["file"])
    assert safe_file_name(delivered_name(entry)) == name
    return name


# --- the warehouse ---------------------------------------------------------------------------------------


def raw_table(ds: Dataset) -> sql.Identifier:
    return sql.Identifier(ds.raw_schema, ds.raw_table)


def relations(warehouse) -> list[tuple[str, str, str]]:
    """Every schema, table and view in the warehouse database."""
    return warehouse.execute(
        "select n.nspname, coalesce(c.relname, ''), coalesce(c.relkind::text, '') from pg_namespace n"
        " left join pg_class c on c.relnamespace = n.oid and c.relkind in ('r', 'v', 'm', 'p')"
        " where n.nspname !~ '^pg_(temp|toast_temp)_' order by 1, 2"
    ).fetchall()


def forget_loads(warehouse, ds: Dataset, sha: str) -> None:
    """Remove every load of this file for this dataset, with its raw, quarantined and refused rows and quality runs."""
    ids = [
        r[0]
        for r in warehouse.execute(
            "select load_id from kho_meta.loads where dataset = %s and file_sha256 = %s", [ds.id, sha]
        )
    ]
    if not ids:
        return
    warehouse.execute(sql.SQL("delete from {} where _load_id = any(%s)").format(raw_table(ds)), [ids])
    warehouse.execute(
        "delete from kho_meta.quarantine where dataset = %s and load_id = any(%s)", [ds.id, ids]
    )
    warehouse.execute(
        "delete from kho_meta.refusal_reasons where dataset = %s and load_id = any(%s)", [ds.id, ids]
    )
    warehouse.execute("delete from kho_meta.quality_runs where load_id = any(%s)", [ids])
    warehouse.execute("delete from kho_meta.loads where load_id = any(%s)", [ids])


@pytest.fixture
def forget(warehouse):
    """``forget(ds, sha)``: make the file new to the warehouse now, and again when the test ends."""
    seen: list[tuple[Dataset, str]] = []

    def _forget(ds: Dataset, sha: str) -> None:
        ensure_meta_schema(warehouse)
        ensure_raw_table(warehouse, ds)  # so that a refused first delivery leaves the relations as they were
        seen.append((ds, sha))
        forget_loads(warehouse, ds, sha)

    yield _forget
    for ds, sha in seen:
        forget_loads(warehouse, ds, sha)


def load_row(warehouse, load_id: str) -> dict:
    cur = warehouse.execute(
        "select status, source_file, file_sha256, archived_path, rows_delivered, rows_landed, rows_quarantined,"
        " error from kho_meta.loads where load_id = %s",
        [load_id],
    )
    names = [d.name for d in cur.description]
    (row,) = cur.fetchall()
    return dict(zip(names, row, strict=True))


# --- the checks ------------------------------------------------------------------------------------------


def check_accounting(warehouse, s, ds: Dataset, load: dict, load_id: str, entry: dict, data: bytes) -> None:
    """The load row, the raw table and the quarantine agree; the delivered bytes are archived by sha256."""
    sha = hashlib.sha256(data).hexdigest()
    assert (load["source_file"], load["file_sha256"]) == (landed_name(entry), sha)
    assert load["rows_delivered"] == load["rows_landed"] + load["rows_quarantined"]
    # One source row may land as several raw rows (a PX-Web row holds one value per year).
    source_row = sql.SQL("(_source_row, {})").format(
        sql.Identifier(ds.source.sheet_column) if ds.source.sheet_column else sql.SQL("null::text")
    )
    landed, foreign = warehouse.execute(
        sql.SQL(
            "select count(distinct {}), count(*) filter (where _source_file <> %s or _file_sha256 <> %s)"
            " from {} where _load_id = %s"
        ).format(source_row, raw_table(ds)),
        [load["source_file"], sha, load_id],
    ).fetchone()
    (quarantined,) = warehouse.execute(
        "select count(*) from kho_meta.quarantine where dataset = %s and load_id = %s", [ds.id, load_id]
    ).fetchone()
    assert (landed, quarantined, foreign) == (load["rows_landed"], load["rows_quarantined"], 0)
    archived = Path(load["archived_path"])
    assert archived.parent == s.archive_dir / ds.id / sha[:2] and archived.name.startswith(sha)
    assert archived.read_bytes() == data
    if "refused" in entry:
        assert load["status"] == "refused"
        assert (load["rows_delivered"], load["rows_landed"], load["rows_quarantined"]) == (0, 0, 0)
    else:
        counts = entry["landed"]
        assert load["status"] == "landed" and load["error"] is None
        assert (load["rows_delivered"], load["rows_landed"], load["rows_quarantined"]) == (
            counts["delivered"],
            counts["landed"],
            counts["quarantined"],
        )


def check_message(message: str, entry: dict, dataset: str) -> None:
    """The one-line message names the dataset, file, line and column, and says what was expected and found."""
    want = entry["refused"]
    where = f"{dataset}: {landed_name(entry)}"
    if want.get("sheet"):
        where += f", sheet {want['sheet']!r}"
    if want["line"] is not None:
        where += f", line {want['line']}"
    if want["column"] is not None:
        where += f", column {want['column']!r}"
    assert "\n" not in message and "\r" not in message
    assert message.startswith(where + ": expected "), message
    expected, _, found = message.removeprefix(where + ": expected ").rpartition(", found ")
    assert want["expected"] in expected, message
    assert want["found"] in found, message


def check_quarantine(warehouse, ds: Dataset, load_id: str, entry: dict) -> None:
    rows = warehouse.execute(
        "select source_row, column_name, reason, raw_values from kho_meta.quarantine"
        " where dataset = %s and load_id = %s order by source_row",
        [ds.id, load_id],
    ).fetchall()
    want = entry.get("quarantine", [])
    assert len(want) == entry["landed"]["quarantined"], "list every quarantined row in expected.yml"
    assert [r[0] for r in rows] == [q["row"] for q in want]
    for (_, column, reason, raw), q in zip(rows, want, strict=True):
        assert column == q["column"]
        assert q["reason"] in reason
        assert {k: raw.get(k) for k in q.get("raw", {})} == q.get("raw", {})


def check_values(warehouse, ds: Dataset, load_id: str, entry: dict) -> None:
    """Values land exactly as delivered (formula-like text, SQL-like text, odd dates read right)."""
    for v in entry.get("values", []):
        found = warehouse.execute(
            sql.SQL("select {}::text from {} where _load_id = %s and _source_row = %s").format(
                sql.Identifier(v["column"]), raw_table(ds)
            ),
            [load_id, v["row"]],
        ).fetchall()
        assert [r[0] for r in found] == [v["value"]], v


def check_raw_suite(s, ds: Dataset, load_id: str, entry: dict) -> None:
    """What landing keeps (raw is what was delivered) the raw suite stops, with a critical failure."""
    from kho.validating.quality import validate

    want = entry["raw_suite"]
    result = validate(ds.id, "raw", load_id=load_id, s=s)
    failed = [(f.expectation, f.column) for f in result.critical_failures]
    assert not result.success and (want["expectation"], want["column"]) in failed, failed


# --- the tests -------------------------------------------------------------------------------------------


def test_the_corpus_table_lists_every_file_once_and_covers_every_case():
    files = [e["file"] for e in ENTRIES]
    assert len(files) == len(set(files)) >= 30
    committed = {p.name for p in CORPUS.iterdir() if p.is_file()} - NOT_DELIVERIES
    assert committed | set(make_corpus.LARGE) == set(files)
    assert not committed & set(make_corpus.LARGE), "large files are generated, not committed"
    assert all((CORPUS / n).stat().st_size < 50_000 for n in committed)
    assert CASES <= {e["case"] for e in ENTRIES}
    for e in ENTRIES:
        assert e["dataset"] in catalog().datasets, e["file"]
        assert ("refused" in e) != ("landed" in e), e["file"]
        assert not (e.get("cli") and "/" in delivered_name(e)), "the CLI names a delivery by its file name"


@pytest.mark.parametrize("entry", params(ENTRIES, "land_file"))
def test_bad_delivery(entry, stack, warehouse, forget, tmp_path):
    s, _ = stack
    ds = catalog().dataset(entry["dataset"])
    data = corpus_bytes(entry["file"])
    path = tmp_path / entry["file"]
    path.write_bytes(data)
    forget(ds, hashlib.sha256(data).hexdigest())
    before = relations(warehouse)

    if "refused" in entry:
        with pytest.raises(DeliveryError) as caught:
            land_file(ds.id, path, source_name=delivered_name(entry), s=s)
        error, report = caught.value, caught.value.report
        want = entry["refused"]
        problem = error.problem
        where = landed_name(entry) + (f", sheet {want['sheet']!r}" if want.get("sheet") else "")
        assert (problem.dataset, problem.file, problem.line, problem.column) == (
            ds.id,
            where,
            want["line"],
            want["column"],
        )
        check_message(str(error), entry, ds.id)
        assert report.status == "refused" and report.error == str(error)
    else:
        report = land_file(ds.id, path, source_name=delivered_name(entry), s=s)
        want = entry["landed"]
        assert (report.status, report.rows_delivered, report.rows_landed, report.rows_quarantined) == (
            "landed",
            want["delivered"],
            want["landed"],
            want["quarantined"],
        )

    assert relations(warehouse) == before, "a delivery created or dropped a schema, table or view"
    load = load_row(warehouse, report.load_id)
    check_accounting(warehouse, s, ds, load, report.load_id, entry, data)
    if "refused" in entry:
        assert load["error"] == str(caught.value)
        return
    check_quarantine(warehouse, ds, report.load_id, entry)
    check_values(warehouse, ds, report.load_id, entry)
    if "raw_suite" in entry:
        check_raw_suite(s, ds, report.load_id, entry)


@pytest.mark.parametrize("entry", params([e for e in ENTRIES if e.get("cli")], "cli"))
def test_kho_ingest_says_it_in_one_line(entry, stack, warehouse, forget, tmp_path):
    s, _ = stack
    ds = catalog().dataset(entry["dataset"])
    data = corpus_bytes(entry["file"])
    path = tmp_path / delivered_name(entry)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    forget(ds, sha)

    result = subprocess.run(
        [str(KHO), "land", ds.id, str(path)], capture_output=True, text=True, timeout=600, check=False
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    ((load_id,),) = warehouse.execute(
        "select load_id from kho_meta.loads where dataset = %s and file_sha256 = %s", [ds.id, sha]
    ).fetchall()
    load = load_row(warehouse, load_id)
    check_accounting(warehouse, s, ds, load, load_id, entry, data)
    if "refused" in entry:
        assert result.returncode == 1
        assert [line for line in result.stderr.splitlines() if line.strip()] == [f"error: {load['error']}"]
        check_message(load["error"], entry, ds.id)
    else:
        want = entry["landed"]
        assert result.returncode == 0, result.stderr
        (line,) = [line for line in result.stdout.splitlines() if line.strip()]
        assert line.startswith(
            f"{ds.id}: {landed_name(entry)}: {want['delivered']} rows delivered, {want['landed']} landed,"
            f" {want['quarantined']} quarantined"
        )
        assert all(q["reason"] in line for q in entry.get("quarantine", [])), line
        check_quarantine(warehouse, ds, load_id, entry)
