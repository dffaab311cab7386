"""Withdrawal: a published dataset whose catalog entry is gone, or no longer open, leaves public view
(search, page, CSV, DataStore API), is recorded as withdrawn, and comes back with the same ids when
it is opened again."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from ckanapi import NotAuthorized, NotFound

from kho.catalog import Catalog, catalog
from publishers.ckan import publish
from publishers.metadata import ckan_name
from publishers.withdraw import withdraw_stale

pytest.register_assert_rewrite("tests.integration.conftest_ckan")  # helpers imported below, plugin too
from tests.integration.conftest_ckan import datastore_rows, last_publication  # noqa: E402

pytest_plugins = ["tests.integration.conftest_ckan"]

pytestmark = pytest.mark.e2e


def catalog_with(*datasets) -> Catalog:
    """The repository's catalog plus these entries (as if they had been added to it)."""
    real = catalog()
    return Catalog(agencies=real.agencies, datasets={**real.datasets, **{d.id: d for d in datasets}})


def is_public(site, name: str, resource_id: str, csv_url: str) -> bool:
    try:
        site.anonymous.action.package_show(id=name)
    except (NotAuthorized, NotFound):
        with pytest.raises((NotAuthorized, NotFound)):
            site.anonymous.action.datastore_search(resource_id=resource_id)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(csv_url, timeout=30)
        assert site.anonymous.action.package_search(q=f"name:{name}")["count"] == 0
        return False
    assert datastore_rows(site.anonymous, resource_id)
    assert site.anonymous.action.package_search(q=f"name:{name}")["count"] == 1
    return True


def test_dataset_gone_from_the_catalog_is_withdrawn(ckan_site, mart):
    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    name = ckan_name(mart.dataset.id)
    csv_url = ckan_site.admin.action.resource_show(id=result.resource_id)["url"]
    assert is_public(ckan_site, name, result.resource_id, csv_url)

    # still in the catalog: nothing happens to it
    kept = withdraw_stale(ckan_site.settings, cat=catalog_with(mart.dataset))
    assert mart.dataset.id not in [w.dataset for w in kept]
    assert is_public(ckan_site, name, result.resource_id, csv_url)

    # removed from the catalog: withdrawn, recorded
    done = withdraw_stale(ckan_site.settings, cat=catalog_with())
    assert [(w.dataset, w.reason) for w in done if w.dataset == mart.dataset.id] == [
        (mart.dataset.id, "no longer in the catalog")
    ]
    assert not is_public(ckan_site, name, result.resource_id, csv_url)
    status, writes, *_, detail = last_publication(mart)
    assert (status, writes) == ("withdrawn", 1) and "no longer in the catalog" in detail
    # the organization's members still have it, untouched
    assert ckan_site.admin.action.package_show(id=name)["resources"][0]["id"] == result.resource_id

    # running it again changes nothing
    assert mart.dataset.id not in [w.dataset for w in withdraw_stale(ckan_site.settings, cat=catalog_with())]


@pytest.mark.parametrize("classification", ["shared", "restricted"])
def test_dataset_no_longer_open_is_withdrawn_and_comes_back_when_opened(ckan_site, mart, classification):
    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    name = ckan_name(mart.dataset.id)
    csv_url = ckan_site.admin.action.resource_show(id=result.resource_id)["url"]
    closed = mart.dataset.model_copy(update={"classification": classification})

    done = withdraw_stale(ckan_site.settings, cat=catalog_with(closed))

    assert (mart.dataset.id, f"classification is now '{classification}'") in [
        (w.dataset, w.reason) for w in done
    ]
    assert not is_public(ckan_site, name, result.resource_id, csv_url)

    # opened again: the next publish makes it public, same dataset and resource
    again = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    assert (again.package_id, again.resource_id) == (result.package_id, result.resource_id)
    assert is_public(ckan_site, name, result.resource_id, csv_url)


def test_datasets_not_made_by_kho_are_left_alone(ckan_site, unique):
    name, org = f"thu-cong-{unique}", f"co-quan-khac-{unique}"
    ckan_site.admin.action.organization_create(name=org, title="Cơ quan khác")
    ckan_site.admin.action.package_create(name=name, title="Dữ liệu nhập tay", owner_org=org)
    try:
        done = withdraw_stale(ckan_site.settings)
        assert name not in [w.ckan_name for w in done]
        assert ckan_site.anonymous.action.package_show(id=name)["private"] is False
    finally:
        ckan_site.admin.action.dataset_purge(id=name)
        ckan_site.admin.action.organization_purge(id=org)
