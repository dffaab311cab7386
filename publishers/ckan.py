"""Publish an open catalog dataset to CKAN: its organization, the dataset, one CSV file and the DataStore.

``publish_dataset("crop_statistics")`` reads ``marts.<publish.model>`` from the warehouse and makes CKAN
show exactly that table:

- the organization of the agency (name ``statistics-office``, Vietnamese title and description);
- the dataset (name ``crop-statistics``; title, notes, tags, licence and extras from the catalog);
- one CSV resource, uploaded as a file (UTF-8 with BOM, formula-looking text neutralised), whose rows
  are also loaded into the DataStore so they can be queried through the API;
- the CSV's sha256 on the resource (``kho_content_hash``), written last.

Every run converges on that state from wherever the last one stopped: everything is looked up by
name first (the resource by its ``kho_kind`` marker), and until the hash is written the data counts as
not yet published. When the hash, the row count and the metadata all match, no write call is made.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from ckanapi import CKANAPIError, NotFound, RemoteCKAN

from kho import ckan_service
from kho.catalog import Agency, Dataset, catalog
from kho.dbt import manifest_path
from kho.errors import KhoError
from kho.meta import ensure_meta_schema
from kho.settings import Settings, settings
from publishers.table import Table, TableNotFound, datastore_fields, read_table, records, sha256, to_csv

MARTS_SCHEMA = "marts"
CHUNK_SIZE = 10_000  # DataStore records per request: a few MB of JSON
RESOURCE_KIND = "mart_csv"  # marks the one resource this publisher owns in a dataset
REQUEST_TIMEOUT = 300
FREQUENCY_VI = {
    "daily": "hằng ngày",
    "weekly": "hằng tuần",
    "monthly": "hằng tháng",
    "quarterly": "hằng quý",
    "yearly": "hằng năm",
}


class PublishRefused(KhoError):
    """The dataset must not be published: it is not open, or it would publish personal data."""


class PublishError(KhoError):
    """Publishing was attempted and failed (missing mart, CKAN refused a call)."""


@dataclass(frozen=True)
class PublishResult:
    dataset_url: str
    rows: int
    write_calls: int
    status: Literal["published", "unchanged"]
    package_id: str = ""
    resource_id: str = ""
    content_hash: str = ""


def ckan_name(identifier: str) -> str:
    """CKAN URL name for a catalog id: ``crop_statistics`` -> ``crop-statistics``."""
    return identifier.replace("_", "-")


def publish_dataset(dataset_id: str, s: Settings | None = None) -> PublishResult:
    """Publish the catalog dataset ``dataset_id``; see the module docstring."""
    return publish(catalog().dataset(dataset_id), s)


def publish(ds: Dataset, s: Settings | None = None, ckan: RemoteCKAN | None = None) -> PublishResult:
    """Publish ``ds`` (a catalog entry, possibly built by hand) and record the attempt in kho_meta."""
    s = s or settings()
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        ensure_meta_schema(conn)
        try:
            check_open(ds)
            table = _read_mart(conn, ds)
            check_no_personal_data(ds, table)
            client = ckan or _client(s)
            result = _Publisher(ds, client, s).run(table, _load_ids(conn, ds.id), _column_descriptions(ds, s))
        except PublishRefused as exc:
            _record(conn, ds.id, "blocked", detail=str(exc))
            raise
        except Exception as exc:
            _record(conn, ds.id, "failed", detail=f"{type(exc).__name__}: {exc}"[:2000])
            raise
        _record(
            conn, ds.id, result.status, url=result.dataset_url, content_hash=result.content_hash,
            rows=result.rows, write_calls=result.write_calls,
        )  # fmt: skip
    return result


# --- what may be published -----------------------------------------------------------------------


def check_open(ds: Dataset) -> None:
    if ds.classification != "open":
        raise PublishRefused(
            f"{ds.id}: classification is '{ds.classification}'; only 'open' datasets go to the public portal"
        )
    if ds.publish is None:
        raise PublishRefused(f"{ds.id}: the catalog entry has no 'publish' section (which model to publish)")


def check_no_personal_data(ds: Dataset, table: Table) -> None:
    personal = {c.name for c in ds.columns if c.personal_data}
    exposed = sorted(personal & {c.name for c in table.columns})
    if exposed:
        raise PublishRefused(
            f"{ds.id}: {table.qualified_name} has columns flagged personal_data in the catalog: "
            f"{', '.join(exposed)}; drop them from the mart before publishing"
        )


def _read_mart(conn: psycopg.Connection, ds: Dataset) -> Table:
    assert ds.publish is not None
    try:
        return read_table(conn, MARTS_SCHEMA, ds.publish.model)
    except TableNotFound as exc:
        raise PublishError(f"{ds.id}: {exc} (has dbt built the mart?)") from None


# --- CKAN ----------------------------------------------------------------------------------------


def _client(s: Settings) -> RemoteCKAN:
    return RemoteCKAN(s.ckan_url, apikey=ckan_service.api_token(s), user_agent="kho-publisher/0.1")


class _Portal:
    """ckanapi calls, split into reads and writes so that writes can be counted."""

    def __init__(self, client: RemoteCKAN, dataset_id: str):
        self.client = client
        self.dataset_id = dataset_id
        self.writes = 0

    def read(self, action: str, **data: Any) -> Any:
        return self._call(action, data)

    def write(self, action: str, files: dict | None = None, **data: Any) -> Any:
        self.writes += 1
        return self._call(action, data, files)

    def _call(self, action: str, data: dict[str, Any], files: dict | None = None) -> Any:
        try:
            return self.client.call_action(
                action, data, files=files, requests_kwargs={"timeout": REQUEST_TIMEOUT}
            )
        except NotFound:
            raise
        except CKANAPIError as exc:
            raise PublishError(f"{self.dataset_id}: CKAN refused {action}: {exc}") from exc


class _Publisher:
    def __init__(self, ds: Dataset, client: RemoteCKAN, s: Settings):
        self.ds = ds
        self.agency = catalog().agencies[ds.agency]
        self.portal = _Portal(client, ds.id)
        self.name = ckan_name(ds.id)
        self.url = f"{s.ckan_url}/dataset/{self.name}"

    def run(self, table: Table, load_ids: list[str], descriptions: dict[str, str]) -> PublishResult:
        content = to_csv(table)
        digest = sha256(content)
        org = self.ensure_organization()
        package = self.ensure_package(org, load_ids)
        resource = next((r for r in package["resources"] if r.get("kho_kind") == RESOURCE_KIND), None)
        resource_meta = self.resource_metadata(table)
        stored_rows = self.datastore_rows(resource["id"]) if resource else None

        if resource and resource.get("kho_content_hash") == digest and stored_rows == len(table.rows):
            changed = {k: v for k, v in resource_meta.items() if resource.get(k) != v}
            if changed:
                self.portal.write("resource_patch", id=resource["id"], **changed)
        else:
            resource = self.upload(package, resource, resource_meta, content)
            if stored_rows is not None:
                self.portal.write("datastore_delete", resource_id=resource["id"], force=True)
            self.load_datastore(resource["id"], table, descriptions)
            # last: until the hash is on the resource, the next run redoes the data
            self.portal.write("resource_patch", id=resource["id"], kho_content_hash=digest)

        return PublishResult(
            dataset_url=self.url,
            rows=len(table.rows),
            write_calls=self.portal.writes,
            status="published" if self.portal.writes else "unchanged",
            package_id=package["id"],
            resource_id=resource["id"],
            content_hash=digest,
        )

    # --- organization and dataset ----------------------------------------------------------------

    def ensure_organization(self) -> dict[str, Any]:
        wanted = {
            "title": self.agency.name_vi,
            "description": organization_description(self.agency),
            "state": "active",
        }
        name = ckan_name(self.agency.id)
        try:
            org = self.portal.read("organization_show", id=name)
        except NotFound:
            return self.portal.write("organization_create", name=name, **wanted)
        changed = {k: v for k, v in wanted.items() if org.get(k) != v}
        return self.portal.write("organization_patch", id=org["id"], **changed) if changed else org

    def ensure_package(self, org: dict[str, Any], load_ids: list[str]) -> dict[str, Any]:
        wanted = package_metadata(self.ds, self.agency, org["id"], load_ids)
        try:
            package = self.portal.read("package_show", id=self.name)
        except NotFound:
            return self.portal.write("package_create", name=self.name, **wanted)
        changed = package_differences(package, wanted)
        return self.portal.write("package_patch", id=package["id"], **changed) if changed else package

    # --- the data --------------------------------------------------------------------------------

    def resource_metadata(self, table: Table) -> dict[str, str]:
        publish = self.ds.publish
        assert publish is not None
        name_vi = publish.resource_name_vi or f"{self.ds.title_vi} (CSV)"
        name_en = publish.resource_name_en or f"{self.ds.title_en} (CSV)"
        return {
            "name": name_vi,
            "description": (
                f"Toàn bộ bảng dữ liệu ({len(table.rows)} dòng), tệp CSV mã hoá UTF-8 mở được bằng Excel; "
                f"cũng truy vấn được qua DataStore API.\n\n"
                f"{name_en}: the full table ({len(table.rows)} rows) as UTF-8 CSV, also queryable through "
                f"the DataStore API."
            ),
            "format": "CSV",
            "mimetype": "text/csv",
            "kho_kind": RESOURCE_KIND,
        }

    def upload(
        self, package: dict[str, Any], resource: dict[str, Any] | None, meta: dict[str, str], content: bytes
    ) -> dict[str, Any]:
        files = {"upload": (f"{self.name}.csv", io.BytesIO(content))}
        if resource is None:
            return self.portal.write("resource_create", files=files, package_id=package["id"], **meta)
        return self.portal.write("resource_patch", files=files, id=resource["id"], **meta)

    def datastore_rows(self, resource_id: str) -> int | None:
        """Rows in the resource's DataStore table; None if it has none."""
        try:
            return self.portal.read("datastore_search", resource_id=resource_id, limit=0)["total"]
        except NotFound:
            return None

    def load_datastore(self, resource_id: str, table: Table, descriptions: dict[str, str]) -> None:
        first, *rest = records(table, CHUNK_SIZE)
        self.portal.write(
            "datastore_create", resource_id=resource_id, force=True,
            fields=datastore_fields(table, descriptions), records=first,
        )  # fmt: skip
        for chunk in rest:
            self.portal.write(
                "datastore_upsert", resource_id=resource_id, force=True, method="insert", records=chunk
            )


# --- metadata ------------------------------------------------------------------------------------


def organization_description(agency: Agency) -> str:
    english = f"*{agency.name_en}.* {agency.description_en}".strip()
    return f"{agency.description_vi}\n\n{english}".strip()


def package_metadata(ds: Dataset, agency: Agency, org_id: str, load_ids: list[str]) -> dict[str, Any]:
    """The dataset as CKAN should show it: Vietnamese first, English second."""
    frequency = FREQUENCY_VI[ds.update_frequency]
    notes = (
        f"{ds.description_vi}\n\n"
        f"**Cơ quan cung cấp:** {agency.name_vi}. **Tần suất cập nhật:** {frequency}.\n\n"
        f"---\n\n"
        f"**{ds.title_en}**\n\n{ds.description_en}"
    )
    extras = {
        "title_en": ds.title_en,
        "update_frequency": f"{frequency} ({ds.update_frequency})",
        "source_agency": f"{agency.name_vi} ({agency.name_en})",
        "kho_dataset_id": ds.id,
        "kho_load_ids": ", ".join(load_ids),
    }
    return {
        "title": ds.title_vi,
        "notes": notes,
        "owner_org": org_id,
        "private": False,
        "state": "active",
        "license_id": ds.licence,
        "maintainer": agency.name_vi,
        "maintainer_email": agency.email or "",
        "tags": [{"name": tag} for tag in ds.tags],
        "extras": [{"key": k, "value": v} for k, v in extras.items()],
    }


def package_differences(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` that ``current`` (from package_show) does not already have."""
    changed = {}
    for key, value in wanted.items():
        if key == "tags":
            same = sorted(t["name"] for t in current.get("tags", [])) == sorted(t["name"] for t in value)
        elif key == "extras":
            have = {e["key"]: e["value"] for e in current.get("extras", [])}
            same = have == {e["key"]: e["value"] for e in value}
        else:
            same = (
                (current.get(key) or "") == (value or "")
                if isinstance(value, str)
                else current.get(key) == value
            )
        if not same:
            changed[key] = value
    return changed


# --- warehouse bookkeeping -----------------------------------------------------------------------


def _load_ids(conn: psycopg.Connection, dataset_id: str, limit: int = 10) -> list[str]:
    """The most recent landed loads of the dataset, newest first (what the published mart was built from)."""
    rows = conn.execute(
        """
        select load_id from kho_meta.loads
        where dataset = %s and status = 'landed'
        order by coalesce(finished_at, started_at) desc, load_id desc
        limit %s
        """,
        [dataset_id, limit],
    ).fetchall()
    return [r[0] for r in rows]


def _column_descriptions(ds: Dataset, s: Settings) -> dict[str, str]:
    """Column descriptions of the published model from dbt's manifest, for the DataStore data dictionary."""
    path = manifest_path(s)
    if ds.publish is None or not path.exists():
        return {}
    nodes = json.loads(path.read_text(encoding="utf-8")).get("nodes", {})
    for node in nodes.values():
        if node.get("resource_type") == "model" and node.get("name") == ds.publish.model:
            return {name: col.get("description") or "" for name, col in node.get("columns", {}).items()}
    return {}


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
