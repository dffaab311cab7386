"""The department of culture's two datasets end to end, on the real services, through Airflow:

- tourist_sites: the agency API stand-in -> fetch (every page) -> land (JSON Lines) -> raw -> dbt -> CKAN;
- intangible_heritage: the same list exported in TCVN3, VNI, cp1258 and UTF-8 NFD -> land -> raw -> dbt -> CKAN.

The DAG runs are those every end-to-end module shares (tests/e2e/conftest.py). Running again is checked with the same
library calls the DAG tasks make, without Airflow: a fetch of unchanged content is skipped by landing,
and the publisher makes no write call."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import unicodedata
import urllib.request

import pytest
from psycopg import sql

from flow import publish
from kho.catalog import catalog
from kho.delivering import fetch
from kho.landing.land import land_file
from kho.settings import REPO

pytestmark = pytest.mark.e2e

SITES, HERITAGE = "tourist_sites", "intangible_heritage"
API_SAMPLE = REPO / "samples" / SITES / "api" / "tourist-sites.json"
HERITAGE_FILES = sorted((REPO / "samples" / HERITAGE).glob("*.csv"))
MARTS = {SITES: "dim_tourist_site", HERITAGE: "dim_heritage_element"}
RAW_HERITAGE = [
    "element_id",
    "element_name",
    "heritage_type",
    "community",
    "communes",
    "year_inscribed",
    "listing",
]
MODELS = {
    SITES: ["stg_culture_tourism__tourist_sites", "int_tourist_sites__matched", "dim_tourist_site"],
    HERITAGE: [
        "stg_culture_tourism__intangible_heritage",
        "int_intangible_heritage__matched",
        "dim_heritage_element",
    ],
}


@pytest.fixture(scope="module")
def runs(pipeline):
    """The shared pipeline run (tests/e2e/conftest.py): its settings, task states per DAG, messages."""
    return pipeline.s, pipeline.states, pipeline.messages


def test_land_dags_fetch_then_land_then_validate(runs):
    _, states, messages = runs
    assert states[f"land__{SITES}"] == {"fetch": "success", "land": "success", "validate_raw": "success"}, (
        messages
    )
    assert states[f"land__{HERITAGE}"] == {"land": "success", "validate_raw": "success"}, messages


def test_warehouse_builds_checks_and_publishes_both(runs):
    _, states, messages = runs
    warehouse = states["warehouse"]
    # one `dbt build` per dbt group: the shared models, then this agency's
    assert warehouse["dbt_build__platform"] == "success", messages
    assert warehouse["dbt_build__culture_tourism"] == "success", messages
    for ds_id in MODELS:
        assert warehouse[f"validate_mart__{ds_id}"] == "success", messages
        assert warehouse[f"publish__{ds_id}"] == "success", messages


def test_every_page_of_the_api_landed_as_one_delivery(runs, warehouse):
    expected = json.loads(API_SAMPLE.read_text(encoding="utf-8"))
    loads = warehouse.execute(
        "select status, rows_delivered, rows_landed, rows_quarantined, archived_path, source_file"
        " from kho_meta.loads where dataset = %s",
        [SITES],
    ).fetchall()
    assert len(loads) == 1
    status, delivered, landed, quarantined, archived, name = loads[0]
    assert (status, delivered, landed, quarantined) == ("landed", len(expected), len(expected), 0)
    assert name.startswith("tourist_sites-") and name.endswith(".jsonl")
    with open(archived, encoding="utf-8") as f:
        assert [json.loads(line) for line in f] == expected
    ids = [
        r[0]
        for r in warehouse.execute(
            "select site_id from raw_culture_tourism.tourist_sites order by _source_row"
        )
    ]
    assert ids == [r["id"] for r in expected]


def test_heritage_in_every_encoding_lands_the_same_nfc_text(runs, warehouse):
    loads = dict(
        warehouse.execute(
            "select source_file, load_id from kho_meta.loads where dataset = %s and status = 'landed'",
            [HERITAGE],
        ).fetchall()
    )
    assert sorted(loads) == [f.name for f in HERITAGE_FILES]
    # What the lists say, read with nothing but the csv module from the UTF-8 file, composed to NFC.
    nfd = next(f for f in HERITAGE_FILES if "utf8" in f.name).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(unicodedata.normalize("NFC", nfd))))
    expected = sorted(
        (
            r["Mã di sản"],
            r["Tên di sản"],
            r["Loại hình"],
            r["Chủ thể"],
            r["Địa bàn"],
            int(r["Năm ghi danh"]),
            r["Cấp ghi danh"],
        )
        for r in rows
    )
    query = sql.SQL(
        "select {} from raw_culture_tourism.intangible_heritage where _load_id = %s order by 1"
    ).format(sql.SQL(", ").join(map(sql.Identifier, RAW_HERITAGE)))
    for name, load_id in loads.items():
        landed = [tuple(r) for r in warehouse.execute(query, [load_id]).fetchall()]
        assert landed == expected, name
        assert all(unicodedata.is_normalized("NFC", v) for r in landed for v in r if isinstance(v, str)), name


def test_marts_carry_the_commune_codes_of_the_province(runs, warehouse):
    sites = warehouse.execute(
        "select site_id, commune_code, commune_name, province_code from marts.dim_tourist_site order by site_id"
    ).fetchall()
    assert len(sites) == 42
    assert all(code and len(code) == 5 and province == "08" for _, code, _, province in sites)
    by_id = {r[0]: r for r in sites}
    assert by_id["DL-0024"][2] == "Xã Lũng Cú"  # delivered without accents: "Lung Cu"
    assert by_id["DL-0010"][2] == "Phường Minh Xuân"  # "phường Minh Xuân"
    then = warehouse.execute(
        "select listing, year_inscribed, commune_count, commune_names from marts.dim_heritage_element"
        " where element_id = 'DSPVT-001'"
    ).fetchone()
    assert then == ("UNESCO", 2019, 3, "Xã Thượng Lâm; Xã Lâm Bình; Xã Nà Hang")
    assert warehouse.execute(
        "select count(*), count(commune_codes) from marts.dim_heritage_element"
    ).fetchone() == (41, 41)


@pytest.mark.parametrize("ds_id", [SITES, HERITAGE])
def test_ckan_shows_the_mart(runs, warehouse, ckan_anonymous, ds_id):
    ds = catalog().dataset(ds_id)
    pkg = ckan_anonymous.action.package_show(id=ds_id.replace("_", "-"))
    assert pkg["title"] == ds.title_vi
    assert pkg["organization"]["title"] == catalog().agencies["culture_tourism"].name_vi
    assert pkg["license_id"] == "cc-by-4.0"
    mart = sql.Identifier("marts", MARTS[ds_id])
    count = warehouse.execute(sql.SQL("select count(*) from {}").format(mart)).fetchone()[0]
    (resource,) = [r for r in pkg["resources"] if r["format"].upper() == "CSV"]
    with urllib.request.urlopen(resource["url"]) as response:
        raw = response.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert len(list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))) == count
    assert ckan_anonymous.action.datastore_search(resource_id=resource["id"], limit=1)["total"] == count
    formats = sorted(r["format"] for r in pkg["resources"])
    if ds_id != SITES:
        assert formats == ["CSV", "JSON", "XLSX"]
        return
    # the sites have coordinates: a GeoJSON file too, one point in Viet Nam per site
    assert formats == ["CSV", "GeoJSON", "JSON", "XLSX"]
    (geo,) = [r for r in pkg["resources"] if r["format"] == "GeoJSON"]
    assert geo["mimetype"] == "application/geo+json"
    with urllib.request.urlopen(geo["url"]) as response:
        features = json.load(response)["features"]
    assert len(features) == count
    for feature in features:
        lon, lat = feature["geometry"]["coordinates"]
        assert 102 < lon < 110 and 8 < lat < 24, feature
        assert feature["properties"]["site_name"]


def test_fetching_and_publishing_again_changes_nothing(runs, warehouse):
    s, _, _ = runs
    path = fetch(catalog().dataset(SITES), s)
    archived = warehouse.execute(
        "select file_sha256 from kho_meta.loads where dataset = %s", [SITES]
    ).fetchone()[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == archived  # same content, same bytes
    assert land_file(SITES, path, s=s).status == "skipped"
    path.unlink()
    for ds_id in (SITES, HERITAGE):
        again = publish(ds_id, s)
        assert (again["status"], again["write_calls"]) == ("unchanged", 0)
