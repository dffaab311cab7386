"""A publish killed at any point (kill -9) is repaired by the next run: no duplicate dataset or resource,
every row in the DataStore, the same ids, and then nothing more to do.

The publish runs in a child process. Either it kills itself right after a named step
(``KHO_PUBLISH_CRASH_AFTER``, see ``publishers.ckan.STEPS``), or the test kills it after a while.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from kho.settings import REPO
from publishers.ckan import KINDS, RESOURCE_KIND, STEPS, publish
from publishers.metadata import ckan_name

pytest.register_assert_rewrite("tests.integration.conftest_ckan")  # helpers imported below, plugin too
from tests.integration.conftest_ckan import csv_rows  # noqa: E402

pytest_plugins = ["tests.integration.conftest_ckan"]

pytestmark = pytest.mark.e2e

ROWS = 3_000  # enough for a kill half-way through the rows (datastore_rows) to leave some on either side
CHILD = """
import sys
from pathlib import Path
from kho.catalog import Dataset
from publishers.ckan import publish
publish(Dataset.model_validate_json(Path(sys.argv[1]).read_text()), manifest=Path(sys.argv[2]))
"""


def start_child(mart, tmp_path, crash_after: str | None = None) -> subprocess.Popen:
    entry = tmp_path / "dataset.json"
    entry.write_text(mart.dataset.model_dump_json())
    env = dict(os.environ)
    env.pop("KHO_PUBLISH_CRASH_AFTER", None)
    if crash_after:
        env["KHO_PUBLISH_CRASH_AFTER"] = crash_after
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(entry), str(mart.manifest)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def portal_state(ckan_site, mart) -> tuple[str | None, list[str]]:
    """The dataset's id and its Kho resources' ids, as the portal holds them now."""
    name = ckan_name(mart.dataset.id)
    found = ckan_site.admin.action.package_search(
        q=f"name:{name}", include_private=True, include_drafts=True
    )["results"]
    assert len(found) <= 1, "two datasets of the same name"
    if not found:
        return None, []
    pkg = ckan_site.admin.action.package_show(id=name)
    return pkg["id"], [r["id"] for r in pkg["resources"] if r.get("kho_kind") == RESOURCE_KIND]


def kho_files(pkg: dict) -> list[str]:
    return sorted(r["kho_kind"] for r in pkg["resources"] if r.get("kho_kind") in KINDS.values())


def assert_repaired(ckan_site, mart, before: tuple[str | None, list[str]]) -> None:
    """Publish again after the crash; then everything is there exactly once, with the ids it had."""
    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    package_id, resources = portal_state(ckan_site, mart)
    assert resources == [result.resource_id], "not exactly one CSV resource"
    if before[0]:
        assert package_id == before[0]
    if before[1]:
        assert result.resource_id == before[1][0]
    pkg = ckan_site.anonymous.action.package_show(id=package_id)
    assert kho_files(pkg) == ["mart_csv", "mart_json", "mart_xlsx"], "not exactly one resource per file"
    assert len(pkg["resources"]) == 3
    assert {r["kho_content_hash"] for r in pkg["resources"]} == {result.content_hash}
    total = ckan_site.anonymous.action.datastore_search(resource_id=result.resource_id, limit=0)["total"]
    assert total == ROWS
    assert len(csv_rows(pkg["resources"][0]["url"])[1]) == ROWS
    again = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    assert (again.status, again.write_calls, again.resource_id) == ("unchanged", 0, result.resource_id)


@pytest.mark.parametrize("step", STEPS)
def test_killed_after_each_step_is_repaired(ckan_site, mart, tmp_path, step):
    mart.fill(ROWS)
    if step != "csv":
        # a first version is out there: the crash interrupts an update
        first = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
        mart.conn.execute(f"update marts.{mart.table} set production_t = production_t + 1")  # noqa: S608
    else:
        first = None

    child = start_child(mart, tmp_path, crash_after=step)
    output = child.communicate(timeout=600)[0].decode(errors="replace")

    assert child.returncode == -signal.SIGKILL, output[-2000:]
    before = portal_state(ckan_site, mart)
    if first:
        assert before == (first.package_id, [first.resource_id])
    assert_repaired(ckan_site, mart, before)


def test_killed_on_first_publish_at_any_moment_is_repaired(ckan_site, mart, tmp_path):
    mart.fill(ROWS)
    for delay in (0.5, 1.5, 3.0, 5.0):
        child = start_child(mart, tmp_path)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        before = portal_state(ckan_site, mart)
        assert_repaired(ckan_site, mart, before)
        ckan_site.admin.action.dataset_purge(id=ckan_name(mart.dataset.id))
