"""The CKAN publisher against the real portal and warehouse.

Each test publishes its own copy of the crop_statistics catalog entry (a random id) from its own table
``marts.test_crop_<suffix>``, shaped like dbt's ``fct_crop_production``, so it never touches real data.
"""

from __future__ import annotations

import csv
import io
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import pytest
from ckanapi import NotFound
from psycopg import sql

from kho import services
from kho.catalog import Column, Dataset, Publish, catalog
from publishers.ckan import PublishRefused, ckan_name, publish

pytest_plugins = ["tests.integration.conftest_ckan"]

pytestmark = pytest.mark.e2e

COLUMNS = """
    province_code text not null,
    province_code_2025 text not null,
    province_name_vi text,
    crop text not null,
    season text not null,
    year integer not null,
    planted_area_ha numeric,
    production_t numeric,
    yield_t_per_ha numeric,
    is_preliminary boolean not null
"""
NAMES = [
    "province_code", "province_code_2025", "province_name_vi", "crop", "season", "year",
    "planted_area_ha", "production_t", "yield_t_per_ha", "is_preliminary",
]  # fmt: skip
ROWS = [
    ("01", "01", "Hà Nội", "paddy", "whole_year", 2023, Decimal("161000.0"), Decimal("920500.0"), Decimal("5.72"), False),
    ("01", "01", "Hà Nội", "paddy", "whole_year", 2024, Decimal("158300.0"), Decimal("905100.0"), Decimal("5.72"), True),
    ("28", "01", "Hà Tây", "maize", "whole_year", 2005, None, None, None, False),
    ("38", "38", "Thanh Hóa", "paddy", "spring", 2024, Decimal("118000.0"), Decimal("790000.0"), Decimal("6.69"), True),
    ("99", "99", "=HYPERLINK(\"http://x\")", "maize", "whole_year", 2024, Decimal("1.5"), Decimal("-2"), None, False),
]  # fmt: skip


@dataclass
class Mart:
    dataset: Dataset
    table: str
    conn: psycopg.Connection

    def rows(self) -> list[tuple]:
        query = sql.SQL("select * from {} order by 1, 2, 3, 4, 5, 6").format(
            sql.Identifier("marts", self.table)
        )
        return self.conn.execute(query).fetchall()


@pytest.fixture
def mart(ckan_site, unique) -> Iterator[Mart]:
    s = ckan_site.settings
    services.ensure_database("kho", s=s)
    table = f"test_crop_{unique}"
    ident = sql.Identifier("marts", table)
    real = catalog().dataset("crop_statistics")
    dataset = real.model_copy(update={"id": f"test_crop_{unique}", "publish": Publish(model=table)})
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(sql.SQL("create table {} ({})").format(ident, sql.SQL(COLUMNS)))
        with conn.cursor().copy(sql.SQL("copy {} from stdin").format(ident)) as copy:
            for row in ROWS:
                copy.write_row(row)
        yield Mart(dataset, table, conn)
        conn.execute(sql.SQL("drop table {}").format(ident))
    try:
        ckan_site.admin.action.dataset_purge(id=ckan_name(dataset.id))
    except Exception:  # noqa: BLE001 - a test that was refused created nothing
        pass


def norm(value) -> str:
    """CSV text, DataStore JSON and PostgreSQL values compared as the same text."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or str(value).lower() in ("true", "false"):
        return str(value).lower()
    try:
        return str(Decimal(str(value)).normalize())
    except ArithmeticError:
        return str(value)


def csv_rows(url: str) -> tuple[bytes, list[dict]]:
    with urllib.request.urlopen(url, timeout=30) as response:
        raw = response.read()
    return raw, list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def datastore_rows(ckan_site, resource_id: str) -> list[dict]:
    return ckan_site.anonymous.action.datastore_search(resource_id=resource_id, limit=1000)["records"]


def last_publication(mart: Mart) -> tuple:
    return mart.conn.execute(
        "select status, write_calls, rows, content_hash from kho_meta.publications"
        " where dataset = %s order by id desc limit 1",
        [mart.dataset.id],
    ).fetchone()


def test_first_publish_creates_dataset_csv_and_datastore(ckan_site, mart):
    result = publish(mart.dataset, ckan_site.settings)

    assert result.status == "published" and result.rows == len(ROWS)
    pkg = ckan_site.anonymous.action.package_show(id=ckan_name(mart.dataset.id))
    assert result.dataset_url.endswith(f"/dataset/{pkg['name']}")
    assert pkg["title"] == mart.dataset.title_vi
    assert pkg["notes"].startswith(mart.dataset.description_vi)
    assert mart.dataset.description_en in pkg["notes"]
    assert pkg["organization"]["name"] == "statistics-office"
    assert pkg["organization"]["title"] == catalog().agencies["statistics_office"].name_vi
    assert pkg["license_id"] == "cc-by-4.0"
    assert sorted(t["name"] for t in pkg["tags"]) == sorted(mart.dataset.tags)
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert extras["title_en"] == mart.dataset.title_en
    assert extras["update_frequency"] == "hằng năm (yearly)"
    assert extras["source_agency"].startswith("Cục Thống kê tỉnh")

    (resource,) = pkg["resources"]
    assert resource["format"] == "CSV" and resource["url_type"] == "upload"
    assert resource["kho_content_hash"] == result.content_hash
    raw, from_csv = csv_rows(resource["url"])
    assert raw.startswith(b"\xef\xbb\xbf")
    assert list(from_csv[0]) == NAMES
    expected = sorted(tuple(norm(v) for v in row) for row in mart.rows())
    # formula-looking text is neutralised in the file, numbers are left alone
    neutralised = [dict(r, province_name_vi=r["province_name_vi"].removeprefix("'")) for r in from_csv]
    assert any(r["province_name_vi"].startswith("'=HYPERLINK") for r in from_csv)
    assert sorted(tuple(norm(r[c]) for c in NAMES) for r in neutralised) == expected

    assert resource["datastore_active"]
    from_store = datastore_rows(ckan_site, resource["id"])
    assert sorted(tuple(norm(r[c]) for c in NAMES) for r in from_store) == expected
    fields = ckan_site.anonymous.action.datastore_search(resource_id=resource["id"], limit=0)["fields"]
    types = {f["id"]: f["type"] for f in fields}
    assert (
        types["year"] == "int4" and types["production_t"] == "numeric" and types["is_preliminary"] == "bool"
    )

    assert last_publication(mart)[:3] == ("published", result.write_calls, len(ROWS))


def test_second_publish_makes_no_write_calls(ckan_site, mart):
    first = publish(mart.dataset, ckan_site.settings)

    second = publish(mart.dataset, ckan_site.settings)

    assert (second.status, second.write_calls) == ("unchanged", 0)
    assert (second.package_id, second.resource_id, second.content_hash) == (
        first.package_id,
        first.resource_id,
        first.content_hash,
    )
    assert last_publication(mart)[:2] == ("unchanged", 0)


def test_changed_row_updates_in_place(ckan_site, mart):
    first = publish(mart.dataset, ckan_site.settings)
    mart.conn.execute(
        sql.SQL("update {} set production_t = 999999.5 where province_code = '38'").format(
            sql.Identifier("marts", mart.table)
        )
    )

    second = publish(mart.dataset, ckan_site.settings)

    assert second.status == "published" and second.content_hash != first.content_hash
    assert (second.package_id, second.resource_id) == (first.package_id, first.resource_id)
    pkg = ckan_site.anonymous.action.package_show(id=first.package_id)
    assert [r["id"] for r in pkg["resources"]] == [first.resource_id]
    found = ckan_site.anonymous.action.package_search(q=f"name:{pkg['name']}")
    assert found["count"] == 1
    _, from_csv = csv_rows(pkg["resources"][0]["url"])
    assert {r["production_t"] for r in from_csv if r["province_code"] == "38"} == {"999999.5"}
    from_store = datastore_rows(ckan_site, first.resource_id)
    assert len(from_store) == len(ROWS)
    assert [norm(r["production_t"]) for r in from_store if r["province_code"] == "38"] == ["999999.5"]


def test_interrupted_run_converges(ckan_site, mart):
    first = publish(mart.dataset, ckan_site.settings)
    # as if the last run died after loading part of the DataStore, before writing the hash
    ckan_site.admin.action.resource_patch(id=first.resource_id, kho_content_hash="")
    ckan_site.admin.action.datastore_delete(
        resource_id=first.resource_id, filters={"province_code": "01"}, force=True
    )

    again = publish(mart.dataset, ckan_site.settings)

    assert again.status == "published"
    assert (again.package_id, again.resource_id, again.content_hash) == (
        first.package_id,
        first.resource_id,
        first.content_hash,
    )
    assert len(datastore_rows(ckan_site, first.resource_id)) == len(ROWS)
    assert publish(mart.dataset, ckan_site.settings).write_calls == 0


def test_metadata_change_only_patches_the_dataset(ckan_site, mart):
    publish(mart.dataset, ckan_site.settings)
    retitled = mart.dataset.model_copy(update={"title_vi": "Thống kê cây trồng (tiêu đề mới)"})

    result = publish(retitled, ckan_site.settings)

    # package_patch, and resource_patch for the resource's name (it follows the title); no upload
    assert (result.status, result.write_calls) == ("published", 2)
    pkg = ckan_site.anonymous.action.package_show(id=result.package_id)
    assert pkg["title"] == "Thống kê cây trồng (tiêu đề mới)"
    (resource,) = pkg["resources"]
    assert resource["name"] == "Thống kê cây trồng (tiêu đề mới) (CSV)"
    # the uploaded file survives a metadata-only update
    assert resource["url_type"] == "upload"
    raw, _ = csv_rows(resource["url"])
    assert raw.startswith(b"\xef\xbb\xbf")


def test_shared_dataset_is_refused(ckan_site, mart):
    shared = mart.dataset.model_copy(update={"classification": "shared"})

    with pytest.raises(PublishRefused, match="classification is 'shared'"):
        publish(shared, ckan_site.settings)

    with pytest.raises(NotFound):
        ckan_site.admin.action.package_show(id=ckan_name(shared.id))
    assert last_publication(mart)[0] == "blocked"


def test_personal_data_is_refused(ckan_site, mart):
    columns = [*mart.dataset.columns, Column(name="province_name_vi", personal_data=True)]
    personal = mart.dataset.model_copy(update={"columns": columns})

    with pytest.raises(PublishRefused, match="province_name_vi"):
        publish(personal, ckan_site.settings)

    assert ckan_site.admin.action.package_search(q=f"name:{ckan_name(personal.id)}")["count"] == 0
