"""Publish an open catalog dataset to CKAN: its organization, the dataset, its files and the DataStore.

The files are CSV (with the DataStore table behind it), XLSX, JSON, and GeoJSON when the rows are places,
all written from the same mart rows in one pass (``publishers.table.write_files``).

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from ckanapi import NotFound, RemoteCKAN
from psycopg import sql

from kho.catalog import Agency, Catalog, Dataset, catalog
from kho.errors import KhoError
from kho.meta import ensure_meta_schema
from kho.settings import REPO, Settings, settings
from publishers import metadata
from publishers.errors import PublishError, PublishRefused
from publishers.metadata import DbtDocs, Facts, Provenance, ckan_name, extra
from publishers.portal import Portal, Retry, client
from publishers.table import (
    CSV,
    FTS_INDEX_METHOD,
    GEOJSON,
    JSON,
    XLSX,
    Download,
    FileFormat,
    Table,
    TableNotFound,
    copy_rows,
    datastore_fields,
    file_formats,
    fingerprint,
    read_table,
    record_batches,
    write_files,
)
from publishers.table import datastore_state as table_state
from publishers.themes import Theme, themes_of

MARTS_SCHEMA = "marts"
CHUNK_SIZE = 10_000  # DataStore records per datastore_upsert request: a few MB of JSON
RESOURCE_KIND = "mart_csv"  # marks the CSV resource (the one with the DataStore table) in a dataset
# kho_kind of the resource of each file format; resources of these kinds are the publisher's own
KINDS = {CSV.key: RESOURCE_KIND, XLSX.key: "mart_xlsx", JSON.key: "mart_json", GEOJSON.key: "mart_geojson"}
# What each file is, Vietnamese first: (vi, en)
FILE_TEXT = {
    XLSX.key: ("bảng tính Excel (XLSX), một trang tính", "an Excel workbook (XLSX), one sheet"),
    JSON.key: ("mảng JSON, mỗi dòng một đối tượng", "a JSON array, one object per row"),
    GEOJSON.key: (
        "GeoJSON, mỗi dòng một điểm (kinh độ, vĩ độ WGS 84) để mở trên bản đồ",
        "GeoJSON, one point per row (longitude, latitude, WGS 84) for maps",
    ),
}
PREVIEW = "datatables_view"  # the resource page's table of DataStore rows
LICENSES = REPO / "ckanext-kho" / "ckanext" / "kho" / "licenses.json"
STEPS = (
    "organization",  # the organization exists
    "package",  # the dataset exists with its metadata
    "datastore_table",  # the DataStore table exists (empty, or the previous rows)
    "datastore_rows",  # half the rows are copied, not committed
    "datastore_commit",  # the rows are committed: queryable through the API
    "csv",  # the files are written
    "upload",  # the CSV file is uploaded
    "hash",  # the content hash is written: the CSV and the DataStore are published
    "files",  # the other files (XLSX, JSON, GeoJSON) are uploaded
)
DatastoreLoad = Literal["auto", "copy", "api"]


@dataclass(frozen=True)
class PublishResult:
    dataset_url: str
    rows: int
    write_calls: int
    status: Literal["published", "unchanged"]
    package_id: str = ""
    resource_id: str = ""
    content_hash: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went: csv, upload, datastore...


def publish_dataset(dataset_id: str, s: Settings | None = None) -> PublishResult:
    """Publish the catalog dataset ``dataset_id``; see the module docstring."""
    return publish(catalog().dataset(dataset_id), s)


def publish(
    ds: Dataset,
    s: Settings | None = None,
    ckan: RemoteCKAN | None = None,
    retry: Retry | None = None,
    manifest: Path | None = None,
    datastore_load: DatastoreLoad = "auto",
    cat: Catalog | None = None,
    _shared: _Shared | None = None,
) -> PublishResult:
    """Publish ``ds`` (a catalog entry, possibly built by hand) and record the attempt in kho_meta.

    ``manifest`` is dbt's manifest (default: the project's); ``datastore_load`` chooses how the
    DataStore is filled ("copy" needs the DataStore database, "api" uses datastore_upsert); ``cat`` is
    the catalog whose agencies own the datasets (default: the repository's).
    """
    s = s or settings()
    cat = cat or catalog()
    with _Shared.open(s, datastore_load) if _shared is None else nullcontext(_shared) as shared:
        meta = shared.warehouse
        meta.execute("select pg_advisory_lock(hashtextextended(%s, 0))", [f"kho_publish:{ds.id}"])
        try:
            check_open(ds)
            with _snapshot(meta) as snapshot:
                table = _read_mart(snapshot, ds)
                try:
                    docs = metadata.dbt_docs(manifest or s.dbt_manifest, ds)
                except ValueError as exc:
                    raise PublishError(f"{ds.id}: {exc}") from None
                check_lineage(ds, docs, cat)
                check_no_personal_data(ds, table, docs)
                portal = Portal(ckan or client(s.ckan_url, s.ckan_api_token), ds.id, retry)
                agency = cat.agencies.get(ds.agency)
                if agency is None:
                    raise PublishError(f"{ds.id}: agency '{ds.agency}' is not in the catalog")
                result = _Publisher(ds, agency, portal, s, shared).run(snapshot, table, docs)
        except PublishRefused as exc:
            _record(meta, ds.id, "blocked", detail=str(exc))
            raise
        except Exception as exc:
            _record(meta, ds.id, "failed", detail=f"{type(exc).__name__}: {exc}"[:2000])
            raise
        finally:
            meta.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", [f"kho_publish:{ds.id}"])
        _record(
            meta, ds.id, result.status, url=result.dataset_url, content_hash=result.content_hash,
            rows=result.rows, write_calls=result.write_calls,
        )  # fmt: skip
    return result


def publish_all(
    datasets: list[Dataset] | None = None, s: Settings | None = None, retry: Retry | None = None
) -> dict[str, PublishResult | KhoError]:
    """Publish many datasets (default: every open one of the catalog), each as :func:`publish` would,
    sharing one CKAN client and the database connections, and asking CKAN once, with one search, what
    it holds of them all. A dataset that fails or is refused does not stop the others: its error is its
    result. The quality gate is the caller's to check (``flow.publish``)."""
    s = s or settings()
    if datasets is None:
        datasets = [d for d in catalog().datasets.values() if d.is_open and d.publish is not None]
    ckan = client(s.ckan_url, s.ckan_api_token)
    results: dict[str, PublishResult | KhoError] = {}
    with _Shared.open(s, "auto") as shared:
        shared.known = {p["name"]: p for p in Portal(ckan, "publish_all", retry).kho_packages()}
        for ds in datasets:
            try:
                results[ds.id] = publish(ds, s, ckan=ckan, retry=retry, _shared=shared)
            except KhoError as exc:
                results[ds.id] = exc
    return results


@dataclass
class _Shared:
    """What consecutive publishes can share: the warehouse connection (autocommit; each publish takes
    its snapshot and lock on it), the DataStore database, and what a search said the portal holds."""

    warehouse: psycopg.Connection
    datastore_url: str | None
    datastore: psycopg.Connection | None = None
    known: dict[str, dict[str, Any]] | None = None  # package name -> package, from one package_search

    @classmethod
    @contextmanager
    def open(cls, s: Settings, how: DatastoreLoad) -> Iterator[_Shared]:
        with psycopg.connect(s.warehouse_url, autocommit=True) as warehouse:
            ensure_meta_schema(warehouse)
            shared = cls(warehouse, _datastore_url(s, how))
            try:
                yield shared
            finally:
                if shared.datastore is not None:
                    shared.datastore.close()

    def datastore_conn(self) -> psycopg.Connection:
        assert self.datastore_url is not None
        if self.datastore is None or self.datastore.closed:
            self.datastore = psycopg.connect(self.datastore_url, autocommit=True)
        return self.datastore


@contextmanager
def _snapshot(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """One read-only REPEATABLE READ transaction for everything read from the warehouse, so the CSV and
    the DataStore rows show the same table even if dbt rebuilds it meanwhile."""
    conn.autocommit = False
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    try:
        yield conn
    finally:
        conn.rollback()
        conn.read_only = None
        conn.isolation_level = None
        conn.autocommit = True


# --- what may be published -----------------------------------------------------------------------


def open_licences() -> set[str]:
    """Licence ids of the portal that allow reuse by anyone for any purpose, commercial included."""
    import json

    return {
        lic["id"]
        for lic in json.loads(LICENSES.read_text(encoding="utf-8"))
        if lic.get("od_conformance") == "approved"
    }


def check_open(ds: Dataset) -> None:
    if ds.classification != "open":
        raise PublishRefused(
            f"{ds.id}: classification is '{ds.classification}'; only 'open' datasets go to the public portal"
        )
    if ds.publish is None:
        raise PublishRefused(f"{ds.id}: the catalog entry has no 'publish' section (which model to publish)")
    licences = open_licences()
    if ds.licence not in licences:
        raise PublishRefused(
            f"{ds.id}: licence '{ds.licence}' does not allow open reuse; use one of {', '.join(sorted(licences))}"
        )


def check_lineage(ds: Dataset, docs: DbtDocs, cat: Catalog) -> None:
    """Refuse a model that dbt declares, or builds from data that the catalog classifies, as not open."""
    if docs.classification and docs.classification != "open":
        raise PublishRefused(
            f"{ds.id}: dbt declares the model '{ds.publish.model}' {docs.classification} "
            f"(meta.classification); only open models go to the public portal"
        )
    by_table = {(d.raw_schema, d.raw_table): d for d in cat.datasets.values()}
    closed = sorted(
        f"{d.id} ({d.classification})"
        for d in (by_table.get(source) for source in docs.sources)
        if d is not None and not d.is_open
    )
    if closed:
        raise PublishRefused(
            f"{ds.id}: dbt builds '{ds.publish.model}' from datasets that are not open: {', '.join(closed)}"
        )


def check_no_personal_data(ds: Dataset, table: Table, docs: DbtDocs | None = None) -> None:
    """Refuse a mart that has a column flagged as personal data in the catalog or in dbt's metadata."""
    from_catalog = {c.name for c in ds.columns if c.personal_data}
    from_dbt = set(docs.personal) if docs else set()
    present = {c.name for c in table.columns}
    exposed = sorted((from_catalog | from_dbt) & present)
    if exposed:
        where = [
            name
            + " ("
            + " and ".join(
                w for w, flagged in (("catalog", name in from_catalog), ("dbt", name in from_dbt)) if flagged
            )
            + ")"
            for name in exposed
        ]
        raise PublishRefused(
            f"{ds.id}: {table.qualified_name} has columns flagged as personal data: {', '.join(where)}; "
            f"drop them from the mart before publishing"
        )


def _read_mart(conn: psycopg.Connection, ds: Dataset) -> Table:
    assert ds.publish is not None
    try:
        return read_table(conn, MARTS_SCHEMA, ds.publish.model)
    except TableNotFound as exc:
        raise PublishError(f"{ds.id}: {exc} (has dbt built the mart?)") from None


def _datastore_url(s: Settings, how: DatastoreLoad) -> str | None:
    if how == "api":
        return None
    url = s.ckan_datastore_write_url
    if url is None and how == "copy":
        raise PublishError("no DataStore database to COPY into (set KHO_CKAN_DATASTORE_WRITE_URL)")
    return url


def _checkpoint(step: str) -> None:
    """Die here, as a kill -9 would, if the crash tests asked for it (KHO_PUBLISH_CRASH_AFTER)."""
    if os.environ.get("KHO_PUBLISH_CRASH_AFTER") == step:
        os.kill(os.getpid(), signal.SIGKILL)


# --- CKAN ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stored:
    """What the DataStore holds for the resource."""

    rows: int
    fields: list[dict[str, Any]]  # without _id


class _Publisher:
    def __init__(self, ds: Dataset, agency: Agency, portal: Portal, s: Settings, shared: _Shared):
        self.ds = ds
        self.agency = agency
        self.portal = portal
        self.s = s
        self.shared = shared
        self.name = ckan_name(ds.id)
        self.org_name = ckan_name(self.agency.id)
        self.url = f"{s.ckan_url}/dataset/{self.name}"
        self.datastore_url = shared.datastore_url

    def run(self, snapshot: psycopg.Connection, table: Table, docs: DbtDocs) -> PublishResult:
        """Changed rows reach the DataStore first (queryable through the API and the resource's preview),
        then the files are written and uploaded; the CSV's content hash, written last, marks it all done."""
        clock = self.clock = _Clock()
        with ThreadPoolExecutor(max_workers=1) as pool, tempfile.TemporaryDirectory(prefix="kho-") as folder:
            # What the portal holds is asked for while the warehouse is read.
            asking = pool.submit(self.portal_state)
            table_print = fingerprint(snapshot, table)
            fields = datastore_fields(table, metadata.data_dictionary(table, self.ds, docs))
            dictionary = _fields_hash(fields)
            facts = self.facts(snapshot, table)
            package, resources, stored = asking.result()
            resource = resources.get(CSV.key)
            formats = file_formats(table)
            clock.lap("read")
            # The rows are current when the CSV resource was completed (its content hash) for a table of
            # the same fingerprint and the DataStore holds as many rows; the files, when every format's
            # resource says the same.
            data_current = bool(
                resource
                and resource.get("kho_content_hash")
                and resource.get("kho_fingerprint") == table_print
                and stored is not None
                and stored.rows == table.rows
            )
            files: dict[str, Download] | None = None
            digest = resource.get("kho_content_hash", "") if resource else ""
            if data_current and not _all_current(resources, formats, table_print):
                files = self.write(snapshot, table, Path(folder))
                if files[CSV.key].sha256 != digest:  # the CSV's bytes changed under an equal fingerprint
                    data_current = False
            facts = self.when_built(facts, package if data_current else None)

            org = self.ensure_organization(package)
            _checkpoint("organization")
            package = self.ensure_package(org, package, facts)
            _checkpoint("package")
            resources = self.own_resources(package)
            resource = resources.get(CSV.key)
            meta = self.resource_metadata(table, CSV)
            clock.lap("metadata")

            if data_current:
                assert resource is not None and stored is not None
                if resource.get("kho_fields") != dictionary:  # the data dictionary changed
                    self.portal.write(
                        "datastore_create", resource_id=resource["id"], force=True, fields=fields
                    )
                final = {**meta, **self.content_fields(resource, digest, table_print, dictionary, table)}
                final.pop("size", None)  # known only from the file; set when it was uploaded
                changed = {k: v for k, v in final.items() if resource.get(k) != v}
                if changed:
                    self.portal.write("resource_patch", id=resource["id"], **changed)
            else:
                if resource is None:  # its file follows the rows
                    resource = self.portal.write(
                        "resource_create",
                        recover=lambda: self._find_resource(CSV),
                        package_id=package["id"],
                        **meta,
                    )
                self.load_datastore(snapshot, resource["id"], table, fields, stored)
                self.ensure_preview(resource)
                clock.lap("datastore")
                if files is None:
                    files = self.write(snapshot, table, Path(folder))
                digest = files[CSV.key].sha256
                resource = self.upload(package, resource, meta, files[CSV.key])
                clock.lap("upload")
                _checkpoint("upload")
                # last: until the hash is on the resource, the next run redoes the data
                self.portal.write(
                    "resource_patch",
                    id=resource["id"],
                    **self.content_fields(resource, digest, table_print, dictionary, table, files[CSV.key]),
                )
                _checkpoint("hash")
            clock.lap("resource")
            kept = {resource["id"]}
            for fmt in formats[1:]:
                kept.add(
                    self.ensure_file(package, resources.get(fmt.key), fmt, table, digest, table_print, files)
                )
            for key, extra_resource in resources.items():
                if key not in {f.key for f in formats}:  # a format the table no longer has (XLSX too large)
                    self.portal.write("resource_delete", id=extra_resource["id"])
            if "resource_create" in self.portal.actions:
                self.settle(kept)
            _checkpoint("files")
            clock.lap("files")

        return PublishResult(
            dataset_url=self.url,
            rows=table.rows,
            write_calls=self.portal.writes,
            status="published" if self.portal.writes else "unchanged",
            package_id=package["id"],
            resource_id=resource["id"],
            content_hash=digest,
            seconds=clock.laps,
        )

    def write(self, snapshot: psycopg.Connection, table: Table, folder: Path) -> dict[str, Download]:
        files = write_files(snapshot, table, folder, self.s.warehouse_url)
        self.clock.lap("csv")
        _checkpoint("csv")
        return files

    def portal_state(self) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]], _Stored | None]:
        """The dataset as CKAN has it, its Kho resources by format, and what the DataStore holds for the CSV."""
        known = self.shared.known
        package = known.get(self.name) if known is not None else None
        if package is None:  # not searched for, or not found by the search (new, or deleted)
            package = self.find_package()
        resources = self.own_resources(package)
        return package, resources, self.datastore_state(resources.get(CSV.key))

    # --- facts about the data --------------------------------------------------------------------

    def facts(self, conn: psycopg.Connection, table: Table) -> Facts:
        """Coverage and provenance, from the warehouse."""
        publish = self.ds.publish
        assert publish is not None
        try:
            temporal = metadata.temporal_coverage(conn, table, publish.period_column)
            spatial = metadata.spatial_coverage(conn, table, publish.area_column)
        except ValueError as exc:
            raise PublishError(f"{self.ds.id}: catalog publish section: {exc}") from None
        return Facts(
            site_url=self.s.ckan_url,
            org_name=self.org_name,
            temporal=temporal,
            spatial=spatial,
            provenance=Provenance(table.qualified_name, _loads(conn, self.ds.id), None),
        )

    def when_built(self, facts: Facts, current: dict[str, Any] | None) -> Facts:
        """When dbt built the published rows. While they are the ones on the portal, the time is kept from
        there: dbt rebuilding the same rows is no change."""
        publish = self.ds.publish
        assert publish is not None
        kept = extra(current, "kho_built_at") if current else None
        if kept:
            built_at = datetime.fromisoformat(kept)
        else:
            built_at = metadata.dbt_built_at(self.s, publish.model) or datetime.now(UTC)
        return replace(facts, provenance=replace(facts.provenance, built_at=built_at))

    # --- organization and dataset ----------------------------------------------------------------

    def find_package(self) -> dict[str, Any] | None:
        try:
            return self.portal.read("package_show", id=self.name)
        except NotFound:
            return None

    def ensure_organization(self, package: dict[str, Any] | None) -> dict[str, Any]:
        wanted = metadata.organization_metadata(self.agency)
        current = (package or {}).get("organization")
        if current and current.get("name") == self.org_name and _same(current, wanted):
            return current  # package_show carries the organization: no need to ask for it
        try:
            org = self.portal.read("organization_show", id=self.org_name)
        except NotFound:
            return self.portal.write(
                "organization_create", recover=self._organization, name=self.org_name, **wanted
            )
        changed = {k: v for k, v in wanted.items() if (org.get(k) or "") != v}
        return self.portal.write("organization_patch", id=org["id"], **changed) if changed else org

    def _organization(self) -> dict[str, Any] | None:
        try:
            return self.portal.read("organization_show", id=self.org_name)
        except NotFound:
            return None

    def ensure_package(
        self, org: dict[str, Any], package: dict[str, Any] | None, facts: Facts
    ) -> dict[str, Any]:
        wanted = metadata.package_metadata(self.ds, self.agency, org["id"], facts)
        wanted["groups"] = [{"name": self.ensure_group(theme)} for theme in themes_of(self.ds.id)]
        if package is None:
            # found rather than created when another run's create got there first: compared below
            package = self.portal.write("package_create", recover=self.find_package, name=self.name, **wanted)
        changed = metadata.package_differences(package, wanted)
        return self.portal.write("package_patch", id=package["id"], **changed) if changed else package

    def ensure_group(self, theme: Theme) -> str:
        """The theme's CKAN group, created or brought up to date; its name."""
        wanted = theme.group_metadata(self.s.ckan_url)
        try:
            group = self.portal.read("group_show", id=theme.id, include_datasets=False)
        except NotFound:
            self.portal.write("group_create", recover=lambda: self._group(theme.id), name=theme.id, **wanted)
            return theme.id
        changed = {k: v for k, v in wanted.items() if (group.get(k) or "") != v}
        if changed:
            self.portal.write("group_patch", id=group["id"], **changed)
        return theme.id

    def _group(self, name: str) -> dict[str, Any] | None:
        try:
            return self.portal.read("group_show", id=name, include_datasets=False)
        except NotFound:
            return None

    # --- the resource ----------------------------------------------------------------------------

    def own_resources(self, package: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        """The resources this publisher owns, by format; any second one of a format (a concurrent or
        crashed create) is removed."""
        found: dict[str, dict[str, Any]] = {}
        kinds = {kind: key for key, kind in KINDS.items()}
        for r in list((package or {}).get("resources", [])):
            key = kinds.get(r.get("kho_kind"))
            if key is None:
                continue
            if key in found:
                self.portal.write("resource_delete", id=r["id"])
                package["resources"].remove(r)
            else:
                found[key] = r
        return found

    def resource_metadata(self, table: Table, fmt: FileFormat) -> dict[str, str]:
        publish = self.ds.publish
        assert publish is not None
        base_vi = (publish.resource_name_vi or self.ds.title_vi).removesuffix(" (CSV)")
        base_en = (publish.resource_name_en or self.ds.title_en).removesuffix(" (CSV)")
        name_vi, name_en = f"{base_vi} ({fmt.label})", f"{base_en} ({fmt.label})"
        if fmt is CSV:
            description = (
                f"Toàn bộ bảng dữ liệu ({table.rows} dòng), tệp CSV mã hoá UTF-8 mở được bằng Excel; "
                f"cũng truy vấn được qua DataStore API.\n\n"
                f"{name_en}: the full table ({table.rows} rows) as UTF-8 CSV, also queryable through "
                f"the DataStore API."
            )
        else:
            what_vi, what_en = FILE_TEXT[fmt.key]
            description = (
                f"Toàn bộ bảng dữ liệu ({table.rows} dòng), {what_vi}; cùng các dòng với tệp CSV.\n\n"
                f"{name_en}: the full table ({table.rows} rows) as {what_en}; the same rows as the CSV."
            )
        return {
            "name": name_vi,
            "name_en": name_en,
            "description": description,
            "format": fmt.label,
            "mimetype": fmt.media_type,
            "kho_kind": KINDS[fmt.key],
        }

    def content_fields(
        self,
        resource: dict[str, Any],
        digest: str,
        table_print: str,
        dictionary: str,
        table: Table,
        file: Download | None = None,
    ) -> dict[str, Any]:
        """What says which content the resource holds; ``kho_content_hash`` marks it as complete."""
        fields: dict[str, Any] = {
            **self.links(resource),
            "hash": digest,
            "hash_algorithm": metadata.SHA256_ALGORITHM,
            "kho_rows": str(table.rows),
            "kho_fingerprint": table_print,
            "kho_fields": dictionary,
            "kho_content_hash": digest,
        }
        if file is not None:
            fields["size"] = file.size
        return fields

    def links(self, resource: dict[str, Any]) -> dict[str, str]:
        return {
            "download_url": resource["url"],
            "access_url": f"{self.s.ckan_url}/dataset/{self.name}/resource/{resource['id']}",
        }

    def upload(
        self,
        package: dict[str, Any],
        resource: dict[str, Any] | None,
        meta: dict[str, Any],
        file: Download,
    ) -> dict[str, Any]:
        fmt = file.format
        with file.path.open("rb") as content:
            files = {"upload": (f"{self.name}.{fmt.key}", content)}
            if resource is None:
                return self.portal.write(
                    "resource_create",
                    files=files,
                    recover=lambda: self._find_resource(fmt),
                    package_id=package["id"],
                    **meta,
                )
            return self.portal.write("resource_patch", files=files, id=resource["id"], **meta)

    def _find_resource(self, fmt: FileFormat = CSV) -> dict[str, Any] | None:
        return self.own_resources(self.find_package()).get(fmt.key)

    def ensure_file(
        self,
        package: dict[str, Any],
        resource: dict[str, Any] | None,
        fmt: FileFormat,
        table: Table,
        digest: str,
        table_print: str,
        files: dict[str, Download] | None,
    ) -> str:
        """The resource of one more file format (XLSX, JSON, GeoJSON): uploaded when it does not hold the
        content ``digest`` (the CSV's sha256) yet, with its own checksum and byte size in the same call.
        Its id."""
        meta = self.resource_metadata(table, fmt)
        if resource is None or resource.get("kho_content_hash") != digest:
            assert files is not None, "files are written whenever a resource is not current"
            file = files[fmt.key]
            content = {
                "hash": file.sha256,
                "hash_algorithm": metadata.SHA256_ALGORITHM,
                "size": file.size,
                "kho_rows": str(table.rows),
                "kho_content_hash": digest,
            }
            resource = self.upload(package, resource, {**meta, **content}, file)
        final = {**meta, **self.links(resource), "kho_fingerprint": table_print}
        changed = {k: v for k, v in final.items() if resource.get(k) != v}
        if changed:
            self.portal.write("resource_patch", id=resource["id"], **changed)
        return resource["id"]

    def settle(self, kept: set[str]) -> None:
        """After this run created resources: any other of the publisher's resources is removed. A killed
        run's create can still finish at CKAN after this run looked at the dataset."""
        package = self.find_package() or {}
        for r in package.get("resources", []):
            if r.get("kho_kind") in KINDS.values() and r["id"] not in kept:
                self.portal.write("resource_delete", id=r["id"])

    # --- the DataStore ---------------------------------------------------------------------------

    def datastore_state(self, resource: dict[str, Any] | None) -> _Stored | None:
        """Rows and columns of the resource's DataStore table: from its database when the publisher can
        reach it (no call to CKAN), else from ``datastore_search``."""
        if resource is None:
            return None
        if self.datastore_url:
            found = table_state(self.shared.datastore_conn(), resource["id"])
            return _Stored(*found) if found else None
        try:
            found = self.portal.read("datastore_search", resource_id=resource["id"], limit=0)
        except NotFound:
            return None
        fields = [f for f in found["fields"] if f["id"] != "_id"]
        return _Stored(found["total"], fields)

    def load_datastore(
        self,
        snapshot: psycopg.Connection,
        resource_id: str,
        table: Table,
        fields: list[dict[str, Any]],
        stored: _Stored | None,
    ) -> None:
        """Make the DataStore table hold exactly the mart's rows, with ``fields`` as its dictionary.

        With the DataStore database at hand and the same columns, the rows are replaced in place (one
        transaction); otherwise the table is made again (``datastore_delete``, ``datastore_create``).
        """
        keep = stored is not None and _same_columns(stored.fields, fields) and bool(self.datastore_url)
        if stored is not None and not keep:
            self._datastore_delete(resource_id)
        # datastore_create on the kept table only rewrites its data dictionary: cheap, and sure
        self.portal.write("datastore_create", resource_id=resource_id, force=True, fields=fields)
        _checkpoint("datastore_table")
        if self.datastore_url:
            self.portal.actions.append("datastore COPY")  # one COPY transaction: a write, not through the API
            conn = self.shared.datastore_conn()
            _copy_into_datastore(conn, snapshot, table, resource_id, self.clock)
        else:
            loaded = 0
            for batch in record_batches(snapshot, table, CHUNK_SIZE):
                # An attempt whose answer was lost may have inserted the batch: the retry asks the
                # DataStore first, or it would insert the rows twice (seen in bench/faults.py).
                loaded += len(batch)
                self.portal.write(
                    "datastore_upsert",
                    recover=lambda rows=loaded: self._holds(resource_id, rows),
                    resource_id=resource_id,
                    force=True,
                    method="insert",
                    records=batch,
                )
        _checkpoint("datastore_commit")
        stored_now = self.datastore_state({"id": resource_id})
        if stored_now is None or stored_now.rows != table.rows:
            raise PublishError(
                f"{self.ds.id}: the DataStore holds {stored_now.rows if stored_now else 'no'} rows "
                f"after loading {table.rows}; the next publish loads them again"
            )

    def _holds(self, resource_id: str, rows: int) -> bool | None:
        """True if the DataStore table holds ``rows`` rows already (an earlier attempt's batch went in)."""
        stored = self.datastore_state({"id": resource_id})
        return True if stored is not None and stored.rows == rows else None

    def ensure_preview(self, resource: dict[str, Any]) -> None:
        """The DataStore table view (datatables_view) on the resource page.

        CKAN makes its default views when a resource is created, before its DataStore table exists, so
        the view that needs the DataStore is made here, as ckanext-xloader does after a load.
        """
        if self._preview(resource["id"]) is None:
            self.portal.write(
                "resource_view_create",
                recover=lambda: self._preview(resource["id"]),
                resource_id=resource["id"],
                view_type=PREVIEW,
                title="Bảng dữ liệu",
                description="Xem trước và lọc các dòng dữ liệu (Preview and filter the rows)",
            )

    def _preview(self, resource_id: str) -> dict[str, Any] | None:
        views = self.portal.read("resource_view_list", id=resource_id)
        return next((v for v in views if v["view_type"] == PREVIEW), None)

    def _datastore_delete(self, resource_id: str) -> None:
        try:
            self.portal.write("datastore_delete", resource_id=resource_id, force=True)
        except NotFound:
            pass


def _copy_into_datastore(
    conn: psycopg.Connection, snapshot: psycopg.Connection, table: Table, resource_id: str, clock: _Clock
) -> None:
    """Replace the rows of DataStore table ``resource_id`` with the mart's, in one transaction.

    As ckanext-xloader does: the indexes are dropped and built again after the COPY, and CKAN's
    full-text trigger is off meanwhile because ``_full_text`` arrives computed. Readers see the old rows
    until the commit; a crash leaves them as they were.
    """
    target = sql.Identifier(resource_id)
    with conn.transaction():
        conn.execute("set local maintenance_work_mem = '1GB'")  # GIN indexes build faster
        conn.execute("set local synchronous_commit = off")
        indexes = conn.execute(
            """
            select i.indexname, i.indexdef from pg_indexes i
            where i.schemaname = 'public' and i.tablename = %s
              and not exists (select 1 from pg_constraint c where c.conname = i.indexname)
            """,
            [resource_id],
        ).fetchall()
        triggers = [
            r[0]
            for r in conn.execute(
                "select tgname from pg_trigger where tgrelid = %s::regclass and not tgisinternal",
                [f'"{resource_id}"'],
            )
        ]
        for name, _ in indexes:
            conn.execute(sql.SQL("drop index {}").format(sql.Identifier(name)))
        for name in triggers:
            conn.execute(sql.SQL("alter table {} disable trigger {}").format(target, sql.Identifier(name)))
        conn.execute(sql.SQL("truncate {} restart identity").format(target))
        clock.lap("datastore_prepare")
        copy_rows(snapshot, conn, table, resource_id, on_half=lambda: _checkpoint("datastore_rows"))
        clock.lap("datastore_copy")
        for _, definition in indexes:
            # a table made before the portal's index method was GIN gets GIN now
            conn.execute(
                definition.replace(" USING gist (_full_text)", f" USING {FTS_INDEX_METHOD} (_full_text)")
            )
        clock.lap("datastore_indexes")
        for name in triggers:
            conn.execute(sql.SQL("alter table {} enable trigger {}").format(target, sql.Identifier(name)))
        # CKAN 2.12 answers datastore_search's total from a cached count (_table_stats)
        conn.execute("select update_cached_table_row_count(%s)", [resource_id])
    conn.execute(sql.SQL("analyze {}").format(target))


class _Clock:
    """Seconds spent in each part of a publish, for the benchmarks and the curious."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self.last, 3)
        self.last = now


def _all_current(resources: dict[str, dict[str, Any]], formats: list[FileFormat], table_print: str) -> bool:
    """Whether the portal holds every file of the table as the fingerprint ``table_print`` gives it."""
    digest = resources[CSV.key].get("kho_content_hash") if CSV.key in resources else None
    return set(resources) == {f.key for f in formats} and all(
        resources[f.key].get("kho_fingerprint") == table_print
        and resources[f.key].get("kho_content_hash") == digest
        for f in formats
    )


def _same(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all((current.get(k) or "") == (v or "") for k, v in wanted.items())


def _same_columns(stored: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> bool:
    return [(f["id"], f["type"]) for f in stored] == [(f["id"], f["type"]) for f in wanted]


def _fields_hash(fields: list[dict[str, Any]]) -> str:
    """What the DataStore's fields and data dictionary should be, as a short hash kept on the resource."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


# --- warehouse bookkeeping -----------------------------------------------------------------------


def _loads(conn: psycopg.Connection, dataset_id: str) -> list[metadata.Load]:
    if conn.execute("select to_regclass('kho_meta.loads')").fetchone()[0] is None:
        return []
    return metadata.loads(conn, dataset_id)


def _record(
    conn: psycopg.Connection,
    dataset_id: str,
    status: str,
    url: str | None = None,
    content_hash: str | None = None,
    rows: int | None = None,
    write_calls: int = 0,
    detail: str | None = None,
) -> None:
    conn.execute(
        """
        insert into kho_meta.publications (dataset, status, ckan_url, content_hash, rows, write_calls, detail)
        values (%s, %s, %s, %s, %s, %s, %s)
        """,
        [dataset_id, status, url, content_hash, rows, write_calls, detail],
    )
