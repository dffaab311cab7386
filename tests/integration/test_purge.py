"""Retention of personal data: ``kho purge`` on the real warehouse and archive, with backdated deliveries.

organic_zones keeps its delivered files and quarantined rows ``retention_days`` (730) days; crop_statistics
sets no retention, so nothing of it is ever purged. The landed rows stay.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from psycopg import sql

from kho.catalog import catalog
from kho.landing.land import land_file
from kho.landing.purge import purge
from kho.settings import REPO

ORGANIC = catalog().dataset("organic_zones")
CROPS = catalog().dataset("crop_statistics")
UNKNOWN_COMMUNE = REPO / "tests" / "corpus" / "organic_unknown_commune.csv"  # 10 rows, 1 quarantined
CROP_TYPO = REPO / "samples" / "crop_statistics" / "production_maize.csv"
DAY = 86400


def variant(tmp_path: Path, source: Path, name: str, old: str, new: str) -> Path:
    """``source`` with one edit: a file of its own (its own sha256), landed afresh on every run of the suite."""
    text = source.read_bytes().decode("utf-8")
    assert old in text
    path = tmp_path / name
    path.write_bytes(text.replace(old, new, 1).encode("utf-8"))
    return path


def land_again(warehouse, s, dataset_id: str, path: Path):
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    warehouse.execute("delete from kho_meta.loads where file_sha256 = %s", [sha])
    report = land_file(dataset_id, path, s=s)
    assert report.status == "landed" and report.rows_quarantined == 1
    return report


def backdate(warehouse, report, days: int) -> None:
    """Make a landed delivery ``days`` old: its archived file and its quarantined rows."""
    then = time.time() - days * DAY
    os.utime(report.archived_path, (then, then))
    warehouse.execute(
        "update kho_meta.quarantine set quarantined_at = now() - make_interval(days => %s) where load_id = %s",
        [days, report.load_id],
    )


def quarantined(warehouse, load_id: str) -> int:
    return warehouse.execute(
        "select count(*) from kho_meta.quarantine where load_id = %s", [load_id]
    ).fetchone()[0]


def test_purge_deletes_what_is_older_than_the_retention_and_nothing_else(stack, warehouse, tmp_path):
    s, _ = stack
    assert ORGANIC.retention_days == 730 and CROPS.retention_days is None
    old = land_again(
        warehouse,
        s,
        "organic_zones",
        variant(tmp_path, UNKNOWN_COMMUNE, "old.csv", "Khau Mút", "Khau Mút cũ"),
    )
    recent = land_again(
        warehouse,
        s,
        "organic_zones",
        variant(tmp_path, UNKNOWN_COMMUNE, "recent.csv", "Khau Mút", "Khau Mút mới"),
    )
    crops = land_again(
        warehouse,
        s,
        "crop_statistics",
        variant(tmp_path, CROP_TYPO, "maize.csv", '"Vinh Phuc";', '"Vinh Phucc";'),
    )
    backdate(warehouse, old, 731)
    backdate(warehouse, recent, 729)
    backdate(warehouse, crops, 3000)  # no retention in the catalog: kept however old
    old_file, recent_file, crops_file = (Path(r.archived_path) for r in (old, recent, crops))
    purges_before = warehouse.execute("select count(*) from kho_meta.purges").fetchone()[0]

    # a dry run says what would go, and deletes and records nothing
    (dry,) = purge(s=s, dry_run=True)
    assert (dry.dataset, dry.files, dry.quarantine_rows) == ("organic_zones", [old_file.name], 1)
    assert dry.bytes == old_file.stat().st_size
    assert old_file.is_file() and quarantined(warehouse, old.load_id) == 1
    assert warehouse.execute("select count(*) from kho_meta.purges").fetchone()[0] == purges_before

    (done,) = purge(s=s)

    assert (done.files, done.quarantine_rows, done.dry_run) == ([old_file.name], 1, False)
    # the old delivery's file and quarantined rows are gone; its load is kept, without an archive path
    assert not old_file.exists() and quarantined(warehouse, old.load_id) == 0
    assert warehouse.execute(
        "select status, archived_path from kho_meta.loads where load_id = %s", [old.load_id]
    ).fetchone() == ("landed", None)
    # the landed rows stay, as do the recent delivery and everything of a dataset without retention
    raw = sql.Identifier(ORGANIC.raw_schema, ORGANIC.raw_table)
    landed = warehouse.execute(
        sql.SQL("select count(*) from {} where _load_id = %s").format(raw), [old.load_id]
    )
    assert landed.fetchone()[0] == old.rows_landed == 9
    assert recent_file.is_file() and quarantined(warehouse, recent.load_id) == 1
    assert crops_file.is_file() and quarantined(warehouse, crops.load_id) == 1
    # recorded in kho_meta.purges
    row = warehouse.execute(
        "select dataset, retention_days, archived_files, archived_bytes, quarantine_rows, files"
        " from kho_meta.purges order by id desc limit 1"
    ).fetchone()
    assert row == ("organic_zones", 730, 1, dry.bytes, 1, [old_file.name])

    # a second run finds nothing more to purge, and says so
    (again,) = purge(s=s)
    assert (again.files, again.quarantine_rows) == ([], 0)


def test_kho_purge_command(stack):
    kho = str(REPO / ".kho" / "venvs" / "main" / "bin" / "kho")
    result = subprocess.run([kho, "purge", "--dry-run"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("organic_zones: kept 730 days (before ")
    assert "would delete" in result.stdout

    refused = subprocess.run([kho, "purge", "crop_statistics"], capture_output=True, text=True)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == (
        "error: crop_statistics: the catalog entry sets no 'retention_days', so nothing is purged"
    )
