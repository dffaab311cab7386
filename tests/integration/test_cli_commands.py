"""`kho status` through the real executable with stdout a pipe: whole ids, --json, and a broken catalog
file reported in one line with its file and line (the warehouse is up, so the catalog is what fails)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from kho.catalog import catalog
from kho.operations.status import dataset_status
from kho.settings import REPO

KHO = str(REPO / ".kho" / "venvs" / "main" / "bin" / "kho")


def kho(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KHO, *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "40", **env}, check=False
    )


def test_status_piped_prints_every_dataset_id_whole(stack):
    result = kho("status")
    assert result.returncode == 0, result.stderr
    for ds_id in catalog().datasets:
        assert sum(f" {ds_id} " in line for line in result.stdout.splitlines()) == 1, ds_id


def test_status_json_is_what_the_library_reports(stack):
    s, _ = stack
    result = kho("status", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [d["dataset"] for d in listed] == sorted(catalog().datasets)
    by_id = {r.dataset: r for r in dataset_status(s)}
    for d in listed:
        mine = by_id[d["dataset"]]
        assert (d["deliveries"], d["rows_landed"], d["freshness"]) == (
            mine.deliveries,
            mine.rows_landed,
            mine.freshness,
        )


def test_status_with_a_broken_catalog_file_is_one_error(stack, tmp_path):
    folder = tmp_path / "catalog"
    shutil.copytree(REPO / "catalog", folder)
    path = folder / "agriculture" / "organic_zones.yml"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines[:3], "\tindented: with a tab", *lines[3:]]) + "\n", encoding="utf-8")
    result = kho("status", KHO_CATALOG_DIR=str(folder))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr and result.stdout == ""
    (line,) = [text for text in result.stderr.splitlines() if text.strip()]
    assert line.startswith(f"error: {path}, line 4, column 1: not valid YAML: "), line
