"""Landing on the real PostgreSQL: atomic, exactly once, every row accounted for, every file kept."""

from __future__ import annotations

import hashlib
import re
import subprocess

import pytest
from psycopg import sql

from kho.catalog import catalog
from kho.errors import DeliveryError
from kho.landing.land import land_file
from kho.settings import REPO

DS = catalog().dataset("crop_statistics")
RAW = sql.Identifier(DS.raw_schema, DS.raw_table)
SAMPLE = REPO / "samples" / "crop_statistics" / "production_maize.csv"


def variant(tmp_path, name: str, old: str, new: str) -> object:
    """The maize sample with one edit (a new file, so a new sha256)."""
    text = SAMPLE.read_bytes().decode("utf-8")
    assert old in text
    path = tmp_path / name
    path.write_bytes(text.replace(old, new, 1).encode("utf-8"))
    return path


def with_bad_number(tmp_path, name: str, area: str, cell: str):
    """The maize sample with the first figure of ``area`` replaced by ``cell``."""
    text = SAMPLE.read_bytes().decode("utf-8")
    path = tmp_path / name
    path.write_bytes(re.sub(f'("{area}";)[^;]+;', lambda m: m.group(1) + cell + ";", text, count=1).encode())
    return path


def forget(warehouse, path) -> None:
    """Let a test file land again on a re-run of the suite (the warehouse outlives the test session)."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    warehouse.execute("delete from kho_meta.loads where file_sha256 = %s", [sha])


def raw_rows(warehouse, load_id: str) -> int:
    query = sql.SQL("select count(*) from {} where _load_id = %s").format(RAW)
    return warehouse.execute(query, [load_id]).fetchone()[0]


def test_unknown_area_is_quarantined_with_its_reason_and_the_rest_lands(stack, warehouse, tmp_path):
    s, _ = stack
    path = variant(tmp_path, "maize_typo.csv", '"Vinh Phuc";', '"Vinh Phucc";')
    forget(warehouse, path)
    report = land_file("crop_statistics", path, s=s)
    assert (report.status, report.rows_delivered, report.rows_landed, report.rows_quarantined) == (
        "landed",
        71,
        70,
        1,
    )
    assert "unknown area name 'Vinh Phucc'; nearest known: Vĩnh Phúc" in report.summary()
    assert raw_rows(warehouse, report.load_id) == 70 * 22  # 70 areas x 22 years
    (row,) = warehouse.execute(
        "select source_file, source_row, column_name, reason, raw_values->>'Cities, provincies'"
        " from kho_meta.quarantine where load_id = %s",
        [report.load_id],
    ).fetchall()
    assert row[:3] == ("maize_typo.csv", 8, "area_name")
    assert row[3].startswith("unknown area name 'Vinh Phucc'")
    assert row[4] == "Vinh Phucc"


def test_a_number_that_is_not_a_number_refuses_the_whole_file_and_keeps_it(stack, warehouse, tmp_path):
    s, _ = stack
    path = with_bad_number(tmp_path, "maize_bad.csv", "Bac Ninh", "12,5x")
    forget(warehouse, path)
    with pytest.raises(DeliveryError) as exc:
        land_file("crop_statistics", path, s=s)
    message = str(exc.value)
    assert message.startswith("crop_statistics: maize_bad.csv, line 9, column '1995': expected a number")
    assert "found '12,5x'" in message
    load = warehouse.execute(
        "select status, rows_landed, archived_path, error from kho_meta.loads where load_id = %s",
        [exc.value.report.load_id],
    ).fetchone()
    assert load[0:2] == ("refused", 0)
    assert raw_rows(warehouse, exc.value.report.load_id) == 0  # nothing half-loaded
    assert open(load[2], "rb").read() == path.read_bytes()  # the file is kept
    assert load[3] == message


def test_the_same_file_lands_once(stack, warehouse, tmp_path):
    s, _ = stack
    path = variant(tmp_path, "maize_once.csv", '"Ha Nam";', '"Ha Nam ";')
    forget(warehouse, path)
    first = land_file("crop_statistics", path, s=s)
    again = land_file("crop_statistics", path, source_name="renamed.csv", s=s)
    assert first.status == "landed" and again.status == "skipped"
    assert again.load_id == first.load_id


def test_too_many_bad_rows_refuse_the_delivery(stack, warehouse, tmp_path):
    s, _ = stack
    text = SAMPLE.read_bytes().decode("utf-8")
    lines = text.split("\r\n")
    # rename a quarter of the provinces: over the 20% threshold of the catalog entry
    mangled = range(5, len(lines) - 1, 4)
    for i in mangled:
        lines[i] = lines[i].replace('"', '"Nowhere ', 1)
    path = tmp_path / "maize_mangled.csv"
    path.write_bytes("\r\n".join(lines).encode("utf-8"))
    forget(warehouse, path)
    with pytest.raises(DeliveryError) as exc:
        land_file("crop_statistics", path, s=s)
    share = f"{len(mangled)} of 71 ({len(mangled) / 71:.0%})"
    assert len(mangled) / 71 > 0.2
    assert f"expected at most 20% of rows quarantined, found {share}; first reason: unknown area name" in str(
        exc.value
    )
    assert warehouse.execute(
        "select count(*) from kho_meta.quarantine where load_id = %s", [exc.value.report.load_id]
    ).fetchone() == (0,)


def test_kho_ingest_exits_non_zero_with_one_line(stack, tmp_path):
    path = variant(tmp_path, "maize_cli.csv", "Production of maize", "Production of cereals per capita")
    kho = str(REPO / ".kho" / "venvs" / "main" / "bin" / "kho")
    result = subprocess.run([kho, "ingest", "crop_statistics", str(path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: crop_statistics: maize_cli.csv, line 1: expected a PX-Web title")
