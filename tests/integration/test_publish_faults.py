"""The publisher when CKAN is down, answers 5xx, or loses an answer: retries with backoff, then a clear
failure; the next run converges, and no retry ever makes a second dataset or resource.

CKAN's failures are played by a small HTTP proxy in front of the real portal (``bench.faults.FaultyProxy``) that answers 503, or
forwards a request and then answers 502 as if the connection broke after CKAN did the work.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
from ckanapi import RemoteCKAN

from bench.faults import FaultyProxy, Plan
from kho.catalog import Catalog, catalog
from publishers.ckan import publish
from publishers.errors import PublishError
from publishers.metadata import ckan_name
from publishers.portal import Retry

pytest.register_assert_rewrite("tests.integration.conftest_ckan")  # helpers imported below, plugin too
from tests.integration.conftest_ckan import ROWS, datastore_rows, last_publication  # noqa: E402

pytest_plugins = ["tests.integration.conftest_ckan"]

pytestmark = pytest.mark.e2e

FAST = Retry(attempts=4, backoff_s=0.05, max_wait_s=0.5)


@pytest.fixture
def proxy(ckan_site) -> Iterator[Callable[[Plan], FaultyProxy]]:
    started: list[FaultyProxy] = []

    def start(plan: Plan) -> FaultyProxy:
        p = FaultyProxy(ckan_site.url, plan)
        p.thread.start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.server.shutdown()
        p.server.server_close()


def first_call(action: str, todo: str) -> Plan:
    """A plan: the first call of ``action`` gets ``todo``, every other call is forwarded."""
    once = {"done": False}

    def plan(_n: int, seen: str) -> str:
        if seen == action and not once["done"]:
            once["done"] = True
            return todo
        return "forward"

    return plan


def through(p: FaultyProxy, site) -> RemoteCKAN:
    return RemoteCKAN(p.url, apikey=site.settings.ckan_api_token)


def published_once(ckan_site, mart) -> dict:
    """Exactly one dataset of that name, with exactly one resource per file format, the CSV's DataStore
    table holding every row."""
    name = ckan_name(mart.dataset.id)
    found = ckan_site.admin.action.package_search(q=f"name:{name}", include_private=True, include_drafts=True)
    assert found["count"] == 1
    pkg = ckan_site.admin.action.package_show(id=name)
    assert [r["format"] for r in pkg["resources"]] == ["CSV", "XLSX", "JSON"]
    resource = pkg["resources"][0]
    assert len(datastore_rows(ckan_site.anonymous, resource["id"])) == len(mart.rows())
    return pkg


def test_ckan_answering_503_fails_clearly_after_retries(ckan_site, mart, proxy):
    always = proxy(lambda _n, _a: "503")

    started = time.monotonic()
    with pytest.raises(PublishError) as failure:
        publish(
            mart.dataset,
            ckan_site.settings,
            ckan=through(always, ckan_site),
            retry=FAST,
            manifest=mart.manifest,
        )
    elapsed = time.monotonic() - started

    message = str(failure.value)
    assert message.startswith(f"{mart.dataset.id}: CKAN did not complete package_show after 4 attempts")
    assert "HTTP 503" in message
    assert always.actions() == ["package_show"] * 4
    assert elapsed >= 0.05 + 0.1 + 0.2  # waited between the attempts, longer each time
    status, *_, detail = last_publication(mart)
    assert status == "failed" and "package_show" in detail

    # the next run, with CKAN back, publishes
    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    assert result.status == "published"
    published_once(ckan_site, mart)


def test_transient_failures_are_retried_until_they_pass(ckan_site, mart, proxy):
    counts: dict[str, int] = {}

    def first_attempt_fails(_n: int, action: str) -> str:
        counts[action] = counts.get(action, 0) + 1
        return "503" if counts[action] % 2 else "forward"

    every_other = proxy(first_attempt_fails)

    result = publish(
        mart.dataset,
        ckan_site.settings,
        ckan=through(every_other, ckan_site),
        retry=FAST,
        manifest=mart.manifest,
    )

    assert result.status == "published" and result.rows == len(ROWS)
    assert every_other.actions("503") and every_other.actions("forward")
    pkg = published_once(ckan_site, mart)
    assert pkg["resources"][0]["kho_content_hash"] == result.content_hash
    assert publish(mart.dataset, ckan_site.settings, manifest=mart.manifest).write_calls == 0


@pytest.mark.parametrize(
    "lost", ["organization_create", "package_create", "resource_create", "resource_patch"]
)
def test_a_lost_answer_never_makes_a_duplicate(ckan_site, mart, proxy, lost, unique):
    """CKAN did the work but the answer never arrived: the retry finds what was made instead."""
    # an agency of its own, so that its organization is created by this run
    agency = catalog().agencies["statistics_office"].model_copy(update={"id": f"test_agency_{unique}"})
    cat = Catalog(agencies={agency.id: agency}, datasets={})
    dataset = mart.dataset.model_copy(update={"agency": agency.id})
    faulty = proxy(first_call(lost, "lose"))
    try:
        result = publish(
            dataset,
            ckan_site.settings,
            ckan=through(faulty, ckan_site),
            retry=FAST,
            manifest=mart.manifest,
            cat=cat,
        )

        assert result.status == "published"
        assert faulty.actions("lose") == [lost]
        pkg = published_once(ckan_site, mart)
        assert pkg["resources"][0]["id"] == result.resource_id
        org_name = ckan_name(agency.id)
        assert ckan_site.admin.action.organization_list(organizations=[org_name]) == [org_name]
    finally:
        ckan_site.admin.action.dataset_purge(id=ckan_name(dataset.id))
        ckan_site.admin.action.organization_purge(id=ckan_name(agency.id))


@pytest.mark.parametrize("made", ["package_create", "resource_create"])
def test_a_create_beaten_by_another_runs_create_leaves_one_of_each(ckan_site, mart, proxy, made):
    """A killed run's create can still finish at CKAN after the next run looked and found nothing. The
    dataset's create is then refused (its name is taken) and the run carries on with the one made; a
    resource's is not (resources have no names), and the run removes the other resource at its end."""
    beaten = proxy(first_call(made, "twice"))
    result = publish(
        mart.dataset, ckan_site.settings, ckan=through(beaten, ckan_site), retry=FAST, manifest=mart.manifest
    )

    assert result.status == "published"
    assert beaten.actions("twice") == [made]
    pkg = published_once(ckan_site, mart)
    assert pkg["resources"][0]["id"] == result.resource_id
    assert publish(mart.dataset, ckan_site.settings, manifest=mart.manifest).write_calls == 0


def test_ckan_down_fails_clearly_and_the_next_run_converges(ckan_site, mart):
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    nobody = RemoteCKAN(dead, apikey="unused")

    with pytest.raises(PublishError, match=r"package_show after 2 attempts.*could not connect"):
        publish(mart.dataset, ckan_site.settings, ckan=nobody, retry=Retry(attempts=2, backoff_s=0.01))

    publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    published_once(ckan_site, mart)


def test_ckan_stopping_half_way_is_repaired_by_the_next_run(ckan_site, mart, proxy):
    """CKAN goes away after the dataset is made (every later call 503): the run fails, the next converges."""
    state = {"down": False}

    def plan(_n: int, action: str) -> str:
        if action == "package_create":
            state["down"] = True
            return "forward"
        return "503" if state["down"] else "forward"

    faulty = proxy(plan)
    with pytest.raises(PublishError):
        publish(
            mart.dataset,
            ckan_site.settings,
            ckan=through(faulty, ckan_site),
            retry=FAST,
            manifest=mart.manifest,
        )
    created = ckan_site.admin.action.package_show(id=ckan_name(mart.dataset.id))
    assert created["resources"] == []

    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    assert result.package_id == created["id"]
    published_once(ckan_site, mart)
