"""The agriculture and construction datasets end to end, in one Airflow pass: the sample deliveries go to the
inboxes, the landing DAGs land them (xlsx with merged headers, sheets per month, CSV with personal data), dbt
builds the marts through Cosmos, Great Expectations gates them and the publisher pushes them to CKAN.

The run is the one every end-to-end module shares (tests/e2e/conftest.py: every dataset from nothing, the
samples delivered, one run_pipeline); the tests read the warehouse and CKAN after it."""

from __future__ import annotations

import csv
import hashlib
import io
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from kho.catalog import catalog
from kho.settings import REPO

pytestmark = pytest.mark.e2e

DATASETS = ["crop_production_commune", "organic_zones", "material_prices"]
MARTS = {
    "crop_production_commune": ["fct_crop_production_commune"],
    "organic_zones": ["fct_organic_zone"],
    "material_prices": ["fct_material_price", "dim_material"],
}


def samples(dataset_id: str) -> list[Path]:
    return sorted(p for p in (REPO / "samples" / dataset_id).iterdir() if p.is_file())


def package_name(dataset_id: str) -> str:
    return dataset_id.replace("_", "-")


def rows(warehouse, query: str, *params) -> list[tuple]:
    return warehouse.execute(query, list(params)).fetchall()


def published_csv(ckan_anonymous, dataset_id: str) -> tuple[bytes, dict]:
    pkg = ckan_anonymous.action.package_show(id=package_name(dataset_id))
    # the mart's CSV (the KPI tables published beside it carry kho_kpi)
    (resource,) = [r for r in pkg["resources"] if r["format"].upper() == "CSV" and not r.get("kho_kpi")]
    with urllib.request.urlopen(resource["url"]) as response:
        return response.read(), resource


@pytest.fixture(scope="module")
def first_run(pipeline):
    """The shared pipeline run (tests/e2e/conftest.py), judged by these datasets' DAGs and tasks."""
    pipeline.assert_succeeded(DATASETS)
    return pipeline.s


# --- landing ---------------------------------------------------------------------------------------


def test_every_delivery_landed_and_every_row_is_accounted_for(first_run, warehouse):
    for dataset_id in DATASETS:
        loads = rows(
            warehouse,
            "select source_file, status, rows_delivered, rows_landed, rows_quarantined, file_sha256"
            " from kho_meta.loads where dataset = %s",
            dataset_id,
        )
        assert sorted(r[0] for r in loads) == [p.name for p in samples(dataset_id)], dataset_id
        for name, status, delivered, landed, quarantined, sha in loads:
            assert status == "landed", (dataset_id, name)
            assert delivered == landed + quarantined > 0, (dataset_id, name)
            assert hashlib.sha256((REPO / "samples" / dataset_id / name).read_bytes()).hexdigest() == sha
    counts = {
        r[0]: r[1:]
        for r in rows(
            warehouse,
            "select source_file, rows_delivered, rows_landed, rows_quarantined from kho_meta.loads"
            " where dataset = 'crop_production_commune'",
        )
    }
    assert counts["dien_tich_nang_suat_san_luong_2024.xlsx"] == (42, 41, 1)
    assert counts["vu_dong_xuan_2025.xlsx"] == (25, 25, 0)


def test_the_misspelt_commune_is_quarantined_with_a_suggestion(first_run, warehouse):
    ((column, reason, raw),) = rows(
        warehouse,
        "select column_name, reason, raw_values from kho_meta.quarantine where dataset = 'crop_production_commune'",
    )
    assert column == "commune_name"
    assert "Xã Bạch Sa" in reason and "Xã Bạch Xa" in reason
    assert raw["Tên xã, phường"] == "Xã Bạch Sa"


def test_raw_and_mart_suites_passed_and_the_price_jump_is_a_warning(first_run, warehouse):
    latest = rows(
        warehouse,
        "select distinct on (dataset, layer, load_id) dataset, layer, success, warnings from kho_meta.quality_runs"
        " where dataset = any(%s) order by dataset, layer, load_id, run_at desc",
        DATASETS,
    )
    assert {(d, layer) for d, layer, _, _ in latest} == {
        (d, layer) for d in DATASETS for layer in ("raw", "mart")
    }
    assert all(success for _, _, success, _ in latest)
    (price_warnings,) = [w for d, layer, _, w in latest if (d, layer) == ("material_prices", "mart")]
    assert any("price_change_pct" in w["summary"] for w in price_warnings)


# --- crop production by commune ---------------------------------------------------------------------


def test_every_landed_commune_name_matched_a_commune_of_the_province(first_run, warehouse):
    statuses = dict(
        rows(
            warehouse,
            "select match_status, count(*) from intermediate.int_crop_production_commune__matched group by 1",
        )
    )
    assert statuses == {"matched": statuses.get("matched", 0)} and statuses["matched"] > 0
    assert rows(
        warehouse,
        "select count(*) from intermediate.int_organic_zones__matched where match_status <> 'matched'",
    ) == [(0,)]


def test_crop_yields_are_in_tonnes_per_hectare_whatever_the_table_said(first_run, warehouse):
    by_unit = rows(
        warehouse,
        "select yield_unit_delivered, year, min(yield_t_per_ha), max(yield_t_per_ha),"
        " max(abs(production_discrepancy_pct)) from marts.fct_crop_production_commune"
        " where crop = 'paddy' group by 1, 2 order by 2",
    )
    assert [(u, y) for u, y, *_ in by_unit] == [("quintals/ha", 2024), ("t/ha", 2025)]
    for _, _, low, high, discrepancy in by_unit:
        assert Decimal("3") < low and high < Decimal("7")  # paddy: 5-6.5 t/ha, not 50-65
        assert discrepancy < 1  # production = area x yield, within rounding


def test_a_commune_name_means_the_commune_of_its_year(first_run, warehouse):
    def unit(year, delivered_key):
        return rows(
            warehouse,
            "select distinct commune_unit_id, commune_code_2025 from marts.fct_crop_production_commune"
            " where year = %s and lower(commune_name_delivered) like %s",
            year,
            delivered_key,
        )

    # "Minh Quang" in 2024 is the old commune; in 2025 the merged one (Phúc Sơn, Hồng Quang, Minh Quang)
    assert unit(2024, "%minh quang") == [("2024:02302", "02302")]
    assert unit(2025, "%minh quang") == [("2025:02302", "02302")]
    # a pre-2025 name in the 2025 table keeps its unit and gets the commune it went into
    assert unit(2025, "%yên lâm") == [("2024:02386", "02398")]
    # the old communes of today's Minh Quang add up by commune_code_2025
    ((merged,),) = rows(
        warehouse,
        "select count(distinct commune_unit_id) from marts.fct_crop_production_commune"
        " where year = 2024 and commune_code_2025 = '02302'",
    )
    assert merged == 3


def test_crop_csv_on_ckan_equals_the_mart(first_run, warehouse, ckan_anonymous):
    content, _ = published_csv(ckan_anonymous, "crop_production_commune")
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
    published = sorted(
        (r["year"], r["season"], r["crop"], r["commune_unit_id"], Decimal(r["production_t"])) for r in reader
    )
    expected = sorted(
        (str(y), s, c, u, p)
        for y, s, c, u, p in rows(
            warehouse,
            "select year, season, crop, commune_unit_id, production_t from marts.fct_crop_production_commune",
        )
    )
    assert published == expected


# --- organic zones: open, without personal data ----------------------------------------------------


def test_organic_zones_are_published_without_personal_data(first_run, warehouse, ckan_anonymous):
    ds = catalog().dataset("organic_zones")
    personal = [c.name for c in ds.columns if c.personal_data]
    content, resource = published_csv(ckan_anonymous, "organic_zones")
    text = content.decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(text)))
    assert header and not set(header) & set(personal)
    # not a single name or phone number of the raw register reaches the portal, in the CSV or the DataStore
    secrets = rows(warehouse, "select household_name, phone from raw_agriculture.organic_zones")
    assert secrets
    store = ckan_anonymous.action.datastore_search(resource_id=resource["id"], limit=1000)
    stored = repr(store["records"])
    # nor the dataset's metadata, nor the quality findings; the provenance names loads, not the agency's files
    package = repr(ckan_anonymous.action.package_show(id=package_name("organic_zones")))
    findings = repr(
        rows(
            warehouse,
            "select critical_failures, warnings from kho_meta.quality_runs where dataset = %s",
            "organic_zones",
        )
    )
    for name, phone in secrets:
        assert name not in text and phone not in text
        assert name not in stored and phone not in stored
        assert name not in package and phone not in package
        assert name not in findings and phone not in findings
    for sample in samples("organic_zones"):
        assert sample.name not in package
        assert hashlib.sha256(sample.read_bytes()).hexdigest() not in package
    # the latest register wins: the renewed certificate and the new communes
    zones = {r["zone_code"]: r for r in csv.DictReader(io.StringIO(text))}
    assert len(zones) == 20
    assert zones["HC-08-CHE-001"]["expiry_date"] == "2027-05-24"
    assert zones["HC-08-CST-001"]["commune_name_2025"] == "Xã Yên Hoa"
    assert all(z["expiry_date"] > z["issue_date"] for z in zones.values())


def test_the_publisher_would_refuse_a_mart_exposing_personal_data():
    from publishers.ckan import PublishRefused, check_no_personal_data
    from publishers.table import Column, Table

    ds = catalog().dataset("organic_zones")
    leaky = Table("marts", "fct_organic_zone", [Column("zone_code", "text"), Column("phone", "text")], 0)
    with pytest.raises(PublishRefused, match="phone"):
        check_no_personal_data(ds, leaky)


# --- material prices --------------------------------------------------------------------------------


def test_material_prices_by_month_with_change_and_index(first_run, warehouse, ckan_anonymous):
    months = rows(
        warehouse,
        "select bulletin_month::text, count(*), min(price_vnd) from marts.fct_material_price group by 1 order by 1",
    )
    assert [(m, n) for m, n, _ in months] == [("2025-01-01", 36), ("2025-02-01", 36), ("2025-03-01", 36)]
    assert all(low > 0 for _, _, low in months)
    assert rows(warehouse, "select count(*), count(distinct unit) from marts.dim_material") == [(18, 5)]
    # the T03 bulletin writes m³ and Tấn: still the same materials as January's m3 and tấn
    assert rows(
        warehouse,
        "select count(*) from marts.fct_material_price where bulletin_month = '2025-03-01'"
        " and previous_month_price_vnd is null",
    ) == [(0,)]
    ((jump,),) = rows(
        warehouse,
        "select price_change_pct from marts.fct_material_price where bulletin_month = '2025-03-01'"
        " and material_name = 'Cát bê tông' and area_of_application like %s",
        "%Hà Giang%",
    )
    assert jump > 20
    content, resource = published_csv(ckan_anonymous, "material_prices")
    assert content.startswith(b"\xef\xbb\xbf")
    published = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(published) == 108
    store = ckan_anonymous.action.datastore_search(resource_id=resource["id"], limit=1)
    assert store["total"] == 108


def test_each_dataset_is_published_under_its_agency(first_run, warehouse, ckan_anonymous):
    for dataset_id in DATASETS:
        ds = catalog().dataset(dataset_id)
        pkg = ckan_anonymous.action.package_show(id=package_name(dataset_id))
        assert pkg["title"] == ds.title_vi
        assert pkg["organization"]["title"] == catalog().agencies[ds.agency].name_vi
        statuses = [
            status
            for (status,) in rows(
                warehouse,
                "select status from kho_meta.publications where dataset = %s order by id",
                dataset_id,
            )
        ]
        # published once; a later run of its warehouse DAG (if any) found it unchanged
        assert statuses[:1] == ["published"] and set(statuses[1:]) <= {"unchanged"}, statuses
