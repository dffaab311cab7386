"""Withdraw from public view what the catalog no longer lets out.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from ckanapi import RemoteCKAN

from kho.catalog import Catalog, catalog
from kho.meta import ensure_meta_schema
from kho.settings import Settings, settings
from publishers.metadata import extra
from publishers.portal import Portal, Retry, client


@dataclass(frozen=True)
class Withdrawn:
    dataset: str  # the catalog id the CKAN dataset was published from
    ckan_name: str
    reason: str


def withdraw_stale(
    s: Settings | None = None,
    ckan: RemoteCKAN | None = None,
    cat: Catalog | None = None,
    retry: Retry | None = None,
) -> list[Withdrawn]:
    """Make private every public Kho dataset that the catalog no longer publishes; what was withdrawn."""
    s = s or settings()
    cat = cat or catalog()
    portal = Portal(ckan or client(s.ckan_url, s.ckan_api_token), "withdraw", retry)
    done: list[Withdrawn] = []
    for package in portal.kho_packages():
        if package.get("private"):
            continue
        dataset_id = extra(package, "kho_dataset_id") or ""
        reason = _reason(cat, dataset_id)
        if reason is None:
            continue
        portal.dataset_id = dataset_id
        portal.write("package_patch", id=package["id"], private=True)
        done.append(Withdrawn(dataset_id, package["name"], reason))
    if done:
        with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
            ensure_meta_schema(conn)
            for w in done:
                conn.execute(
                    "insert into kho_meta.publications (dataset, status, ckan_url, write_calls, detail)"
                    " values (%s, 'withdrawn', %s, 1, %s)",
                    [w.dataset, f"{s.ckan_url}/dataset/{w.ckan_name}", f"made private: {w.reason}"],
                )
    return done


def _reason(cat: Catalog, dataset_id: str) -> str | None:
    """Why the dataset must not be public any more; None if it may stay."""
    ds = cat.datasets.get(dataset_id)
    if ds is None:
        return "no longer in the catalog"
    if not ds.is_open:
        return f"classification is now '{ds.classification}'"
    if ds.publish is None:
        return "the catalog entry has no 'publish' section any more"
    return None
