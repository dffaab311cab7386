"""Landing on the real PostgreSQL: atomic, exactly once, every row accounted for, every file kept."""

from __future__ import annotations

import hashlib
import json
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
    warehouse.execute(sql.SQL("delete from {} where _file_sha256 = %s").format(RAW), [sha])
    warehouse.execute(
        "delete from kho_meta.refusal_reasons where load_id in"
        " (select load_id from kho_meta.loads where file_sha256 = %s)",
        [sha],
    )
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


# --- feedback on a refused delivery: every reason, --explain, --replace ----------------------------------

KHO = str(REPO / ".kho" / "venvs" / "main" / "bin" / "kho")


def many_bad_rows(tmp_path, other: str = "abc"):
    """The maize sample with 18 areas renamed (unknown names) and two figures that are not numbers."""
    lines = SAMPLE.read_bytes().decode("utf-8").split("\r\n")
    renamed = list(range(5, len(lines) - 1, 4))  # lines 6, 10, 14, ...
    for i in renamed:
        lines[i] = lines[i].replace('"', '"Nowhere ', 1)
    for line_no, cell in ((9, "12,5x"), (11, other)):  # Bac Ninh, Hai Duong
        assert line_no - 1 not in renamed
        lines[line_no - 1] = re.sub(
            r'^("[^"]+";)[^;]+;', lambda m, c=cell: m.group(1) + c + ";", lines[line_no - 1]
        )
    path = tmp_path / "maize_many_bad.csv"
    path.write_bytes("\r\n".join(lines).encode("utf-8"))
    return path, [i + 1 for i in renamed]


def warehouse_state(warehouse, s, sha: str) -> tuple:
    """What landing a file would change: raw rows, loads and kept reasons of the file, its archived copy."""
    raw = warehouse.execute(sql.SQL("select count(*) from {}").format(RAW)).fetchone()[0]
    loads = warehouse.execute("select count(*) from kho_meta.loads where file_sha256 = %s", [sha]).fetchone()[
        0
    ]
    kept = warehouse.execute("select count(*) from kho_meta.refusal_reasons").fetchone()[0]
    archived = sorted((s.archive_dir / DS.id).glob(f"*/{sha}*"))
    return raw, loads, kept, archived


def test_explain_lists_every_reason_group_and_lands_nothing(stack, warehouse, tmp_path):
    s, _ = stack
    path, renamed = many_bad_rows(tmp_path, other="abd")  # a file only ever explained, never landed
    forget(warehouse, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    before = warehouse_state(warehouse, s, sha)

    result = subprocess.run(
        [KHO, "land", "--explain", "--json", DS.id, str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1 and result.stderr == "", result.stderr  # it would be refused
    found = json.loads(result.stdout)
    assert found["outcome"] == "would be refused"
    assert found["error"].startswith(f"{DS.id}: maize_many_bad.csv, line 9, column '1995': expected a number")
    assert (found["rows_delivered"], found["rows_quarantined"]) == (71, len(renamed) + 2)
    groups = {(g["column"], g["reason"]): g for g in found["groups"]}
    assert len(groups) == 2
    names = groups[("area_name", "unknown area name")]
    assert names["rows"] == len(renamed) == 18 and names["first_lines"] == renamed
    assert [f["value"] for f in names["found"]][:2] == ["'Nowhere Ha Noi'", "'Nowhere Quang Ninh'"]
    assert {"Quảng Ninh"} <= set(names["found"][1]["nearest"])
    ((column, reason),) = set(groups) - {("area_name", "unknown area name")}
    numbers = groups[(column, reason)]
    assert column == "1995" and reason.startswith("expected a number")
    assert numbers["rows"] == 2 and numbers["first_lines"] == [9, 11]
    assert [f["value"] for f in numbers["found"]] == ["'12,5x'", "'abd'"]

    # the same, as a person reads it: every unknown name on its own line with its nearest known names
    text = subprocess.run([KHO, "land", "--explain", DS.id, str(path)], capture_output=True, text=True)
    assert text.returncode == 1 and "Traceback" not in text.stdout + text.stderr
    assert (
        "  18 x column 'area_name': unknown area name (18 rows: lines 6, 10, 14, 18, 22, ...)" in text.stdout
    )
    assert "'Nowhere Quang Ninh' (line 10): nearest known: Quảng Ninh" in text.stdout
    assert "  2 x column '1995': expected a number" in text.stdout
    assert sum("'Nowhere " in line for line in text.stdout.splitlines()) == 18

    # nothing landed, nothing recorded, nothing archived; the delivered file is where it was
    assert warehouse_state(warehouse, s, sha) == before
    assert before[1] == 0 and before[3] == []
    assert path.is_file()


def test_a_refused_delivery_keeps_every_reason(stack, warehouse, tmp_path):
    s, _ = stack
    path, renamed = many_bad_rows(tmp_path)
    forget(warehouse, path)
    with pytest.raises(DeliveryError) as exc:
        land_file("crop_statistics", path, s=s)
    load_id = exc.value.report.load_id
    assert str(exc.value).startswith("crop_statistics: maize_many_bad.csv, line 9, column '1995'")
    rows = warehouse.execute(
        "select source_row, column_name, reason from kho_meta.refusal_reasons where load_id = %s"
        " order by source_row",
        [load_id],
    ).fetchall()
    assert [r[0] for r in rows] == sorted([*renamed, 9, 11])
    assert all(r[2].startswith("unknown area name 'Nowhere ") for r in rows if r[0] in renamed)
    assert [r[2] for r in rows if r[0] in (9, 11)] == [
        "expected a number with a decimal point, or '..' for missing, found '12,5x'",
        "expected a number with a decimal point, or '..' for missing, found 'abc'",
    ]
    assert raw_rows(warehouse, load_id) == 0
    assert warehouse.execute(
        "select count(*) from kho_meta.quarantine where load_id = %s", [load_id]
    ).fetchone() == (0,)


def test_replace_lands_a_file_again_and_the_new_load_supersedes_the_old(stack, warehouse, tmp_path):
    s, _ = stack
    path = variant(tmp_path, "maize_again.csv", '"Hai Phong";', '"Hai Phong ";')
    forget(warehouse, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    first = land_file("crop_statistics", path, s=s)
    assert first.status == "landed"

    result = subprocess.run(
        [KHO, "land", "--replace", DS.id, str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"; replaces load {first.load_id}")
    loads = warehouse.execute(
        "select load_id, status, superseded_by, rows_landed from kho_meta.loads where file_sha256 = %s"
        " order by started_at",
        [sha],
    ).fetchall()
    assert len(loads) == 2
    new_load = loads[1][0]
    assert loads == [(first.load_id, "superseded", new_load, 71), (new_load, "landed", None, 71)]
    # raw holds the file's rows once, all of the new load
    by_load = warehouse.execute(
        sql.SQL("select _load_id, count(*) from {} where _file_sha256 = %s group by 1").format(RAW), [sha]
    ).fetchall()
    assert by_load == [(new_load, 71 * 22)]
    # without --replace the same file is still skipped, as the landed (new) load
    again = land_file("crop_statistics", path, s=s)
    assert (again.status, again.load_id) == ("skipped", new_load)
