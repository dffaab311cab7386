"""The real `kho` executable as a script sees it (stdout a pipe, not a terminal): listings print whole
ids and have --json; a broken catalog file ends in one error naming the file and line, never a traceback.
These commands read only the catalog: no services needed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from kho.catalog import catalog
from kho.settings import REPO

KHO = str(REPO / ".kho" / "venvs" / "main" / "bin" / "kho")


def kho(*args: str, **env: str) -> subprocess.CompletedProcess:
    # COLUMNS=40: a narrow "terminal" would make rich fold or cut a table if it sized it by that
    return subprocess.run(
        [KHO, *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "40", **env}, check=False
    )


@pytest.fixture
def broken_catalog(tmp_path):
    """A copy of the catalog whose crop_statistics file has a YAML error on its last line."""
    folder = tmp_path / "catalog"
    shutil.copytree(REPO / "catalog", folder)
    path = folder / "statistics_office" / "crop_statistics.yml"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, "licence: CC-BY: 4.0"]) + "\n", encoding="utf-8")
    return folder, path, len(lines) + 1


def test_catalog_list_piped_prints_every_id_and_title_whole():
    result = kho("catalog", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for ds in catalog().datasets.values():
        (line,) = [line for line in lines if f" {ds.id} " in line]
        assert ds.title_vi in line and ds.agency in line


def test_catalog_list_json():
    result = kho("catalog", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = {d["id"]: d for d in json.loads(result.stdout)}
    assert set(listed) == set(catalog().datasets)
    crop = listed["crop_statistics"]
    assert (crop["agency"], crop["source"], crop["raw_table"]) == (
        "statistics_office",
        {"kind": "inbox", "format": "pxweb"},
        "raw_statistics_office.crop_statistics",
    )


@pytest.mark.parametrize(
    "command", [["catalog", "list"], ["catalog", "list", "--json"], ["catalog", "validate"]]
)
def test_a_broken_catalog_file_is_one_error_with_its_file_and_line(broken_catalog, command):
    folder, path, line = broken_catalog
    result = kho(*command, KHO_CATALOG_DIR=str(folder))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr and result.stdout == ""
    errors = [t.removeprefix("error: ") for t in result.stderr.splitlines() if str(path) in t]
    assert errors == [
        f"{path}, line {line}, column 15: not valid YAML: mapping values are not allowed in this context"
    ]
    assert result.stderr.startswith("error: ")
