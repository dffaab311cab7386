"""Faults injected into the real services, and the next run converging (issue 14, item 8): the landing
process killed with SIGKILL at seeded byte offsets of its COPY and at seeded moments, PostgreSQL stopped and
started again in the middle of a COPY, the archive's disk full, CKAN answering 503, dropping connections
or losing answers during the metadata calls and during the DataStore load, and bad deliveries.

Each test runs a few faults through ``bench.faults`` (``python -m bench.faults`` runs the whole campaign
with more of each kind and records its figures in bench/README.md) and asserts what a user would check:
every delivery's rows_delivered = rows_landed + rows_quarantined, no duplicate key, nothing of a killed
load visible, the file in the inbox or archived under its sha256, the DataStore holding the mart's rows.
"""

from __future__ import annotations

import random

import pytest

from bench import faults
from kho.errors import ArchiveError
from kho.landing.land import take

pytestmark = pytest.mark.e2e


def assert_converged(out: faults.Outcome) -> None:
    assert out.ok, (out.point, out.during, out.problems)
    assert (out.lost, out.duplicates, out.partial_visible) == (0, 0, 0)
    assert out.rows_delivered == out.rows_expected


@pytest.fixture
def landing(stack, tmp_path):
    s, _ = stack
    side = faults.Landing(s, tmp_path, rows=30_000)
    yield side
    side.close()


@pytest.fixture
def publishing(stack, tmp_path):
    s, _ = stack
    side = faults.Publishing(s, tmp_path, rows=1_200)
    side.publish()  # a first version is out: the faults interrupt an update
    yield side
    side.close()


def test_landing_killed_at_seeded_byte_offsets_of_its_copy(landing):
    outcomes = [landing.kill_copy(random.Random(seed)) for seed in (1, 2, 3)]
    for out in outcomes:
        assert_converged(out)
        assert out.rows_quarantined == 30_000 // 97  # the nameless rows, once each
    assert sum(o.injected for o in outcomes) >= 2, [o.during for o in outcomes]


def test_landing_killed_at_seeded_moments(landing):
    for seed in (4, 5):
        assert_converged(landing.kill_any(random.Random(seed)))


def test_postgres_stopped_in_the_middle_of_a_copy_and_started_again(landing):
    out = landing.postgres_restart(random.Random(6))
    assert_converged(out)
    if out.injected:  # the landing gave up cleanly: reported, not a traceback, the file kept
        assert out.during.startswith("failed: not landed now (the warehouse database did not answer")
        assert out.during.endswith("left in the inbox, tried again next run")


def test_archive_disk_full_lands_nothing_and_says_so(landing, tmp_path):
    if not faults.can_mount_tmpfs():
        pytest.skip("a tmpfs cannot be mounted here (needs root): the disk-full fault is not injected")
    out = landing.archive_full(random.Random(7))
    assert out.injected
    assert_converged(out)
    assert "the archive has no room for it" in out.during and "No space left on device" in out.during
    assert out.during.endswith("left in the inbox, tried again next run")


def test_take_on_a_full_archive_raises_an_archive_error_naming_the_file(landing, tmp_path):
    if not faults.can_mount_tmpfs():
        pytest.skip("a tmpfs cannot be mounted here (needs root)")
    delivery = faults.heritage_delivery(3_000, "full")
    path = tmp_path / "danh muc.csv"
    path.write_bytes(delivery.data)
    with faults.tmpfs(landing.s.archive_dir, 64), pytest.raises(ArchiveError) as failure:
        take(path, faults.DATASET, landing.s)
    message = str(failure.value)
    assert message.startswith(f"{faults.DATASET}: danh muc.csv: the archive has no room for it (")
    assert f"the delivery is {len(delivery.data):,} bytes" in message
    assert path.read_bytes() == delivery.data


@pytest.mark.parametrize("how", faults.BAD_INPUTS)
def test_bad_inputs_are_refused_whole_or_land_whole(landing, how):
    out = landing.bad_input(random.Random(8), how=how)
    assert out.ok, (out.during, out.problems)
    assert out.during.startswith(("refused: ", "landed"))


def test_ckan_failing_during_metadata_calls(publishing):
    for seed in (9, 10):
        assert_converged(publishing.ckan_metadata(random.Random(seed)))


@pytest.mark.parametrize("how", ["copy", "api"])
def test_ckan_failing_around_the_datastore_load(publishing, how):
    calls = list(enumerate(publishing.calls(how), 1))
    call, action = next(
        (i, a) for i, a in calls if a == ("resource_view_list" if how == "copy" else "datastore_upsert")
    )
    out = publishing.faulted("ckan_datastore", publishing.failing(call, action, "503", 10), action, how)
    assert out.during.startswith(f"failed: {publishing.dataset.id}: CKAN did not complete {action} after 3")
    assert_converged(out)


def test_a_lost_datastore_upsert_answer_inserts_no_duplicate(publishing):
    """CKAN inserted a batch but its answer was lost: the retry must not insert it again (it did: the
    DataStore showed the batch twice and the run failed on the row count)."""
    calls = list(enumerate(publishing.calls("api"), 1))
    upserts = [i for i, a in calls if a == "datastore_upsert"]
    assert len(upserts) >= 2
    out = publishing.faulted(
        "ckan_datastore", publishing.failing(upserts[1], "datastore_upsert", "lose", 1), "lost", "api"
    )
    assert out.during.startswith("published"), out.during
    assert_converged(out)
