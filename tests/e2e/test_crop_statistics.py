"""crop_statistics end to end: sample deliveries -> inbox -> Airflow (land, GX, dbt via Cosmos, GX,
publish) -> warehouse and CKAN, on the real services (the run every end-to-end module shares,
tests/e2e/conftest.py). Then the same again, which must change nothing."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from psycopg import sql

from flow import publish
from kho.catalog import catalog
from kho.operations.runs import run_pipeline
from kho.settings import REPO

pytestmark = pytest.mark.e2e

DATASET = "crop_statistics"
SAMPLES = REPO / "samples" / DATASET
MART = sql.Identifier("marts", "fct_crop_production")
MART_COLUMNS = [
    "province_code",
    "province_code_2025",
    "crop",
    "season",
    "year",
    "planted_area_ha",
    "production_t",
    "yield_t_per_ha",
    "is_preliminary",
]
PACKAGE = "crop-statistics"


def deliver(s, files: list[Path]) -> None:
    inbox = s.inbox_dir / DATASET
    inbox.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, inbox / f.name)


def national_rows(path: Path) -> dict[int, Decimal]:
    """The WHOLE COUNTRY row of a sample file, read with nothing but the csv module."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    header = next(csv.reader([lines[2]], delimiter=";"))
    for fields in csv.reader(lines[3:], delimiter=";"):
        if fields[0].strip() == "WHOLE COUNTRY":
            years = [int(h.split()[-1]) for h in header[1:]]
            return {y: Decimal(v) for y, v in zip(years, fields[1:], strict=True) if v != ".."}
    raise AssertionError(f"{path.name} has no WHOLE COUNTRY row")


def mart_rows(warehouse) -> list[tuple]:
    query = sql.SQL("select {} from {} order by province_code, crop, season, year").format(
        sql.SQL(", ").join(map(sql.Identifier, MART_COLUMNS)), MART
    )
    return warehouse.execute(query).fetchall()


def counts(warehouse, ckan) -> dict:
    ds = catalog().dataset(DATASET)
    raw = sql.Identifier(ds.raw_schema, ds.raw_table)
    pkg = ckan.action.package_show(id=PACKAGE)
    org = ckan.action.organization_show(id=pkg["organization"]["name"], include_datasets=True)
    return {
        "raw": warehouse.execute(sql.SQL("select count(*) from {}").format(raw)).fetchone()[0],
        "mart": warehouse.execute(sql.SQL("select count(*) from {}").format(MART)).fetchone()[0],
        "loads": warehouse.execute(
            "select count(*) from kho_meta.loads where dataset = %s", [DATASET]
        ).fetchone()[0],
        "org_datasets": org["package_count"],
        "resources": [(r["id"], r["name"]) for r in pkg["resources"]],
        "package_id": pkg["id"],
        "all_packages": len(ckan.action.package_list()),
    }


@pytest.fixture(scope="module")
def first_run(pipeline):
    """The shared pipeline run (tests/e2e/conftest.py), judged by this dataset's DAG and tasks."""
    pipeline.assert_succeeded([DATASET])
    return pipeline.s


def test_every_delivered_row_landed_or_quarantined(first_run, warehouse):
    loads = warehouse.execute(
        "select source_file, status, rows_delivered, rows_landed, rows_quarantined, file_sha256, archived_path"
        " from kho_meta.loads where dataset = %s",
        [DATASET],
    ).fetchall()
    assert sorted(r[0] for r in loads) == sorted(p.name for p in SAMPLES.glob("*.csv"))
    for name, status, delivered, landed, quarantined, sha, archived in loads:
        sample = SAMPLES / name
        data_lines = len(sample.read_text(encoding="utf-8-sig").splitlines()) - 3
        assert status == "landed"
        assert delivered == data_lines == landed + quarantined, name
        # the delivered file is kept, by its hash
        assert hashlib.sha256(sample.read_bytes()).hexdigest() == sha
        assert Path(archived).read_bytes() == sample.read_bytes()
        assert sha in archived


def test_fact_keeps_provinces_only_in_canonical_units(first_run, warehouse):
    rows = mart_rows(warehouse)
    assert rows, "the mart is empty"
    codes = {r[0] for r in rows}
    assert all(len(c) == 2 and c.isdigit() for c in codes)
    assert len(codes) == 64  # 63 provinces of 2008-2025 and Hà Tây
    assert "28" in codes  # Hà Tây, historic, restated onto Hà Nội
    assert {r[1] for r in rows if r[0] == "28"} == {"01"}
    assert {(r[2], r[3]) for r in rows} == {
        ("paddy", "whole_year"),
        ("paddy", "spring"),
        ("maize", "whole_year"),
    }
    prel = {r[4] for r in rows if r[8]}
    assert prel == {2016}
    # thousand ha -> ha, thousand tonnes -> t, quintals/ha -> t/ha
    ha_noi_2015 = next(r for r in rows if r[0] == "01" and r[2] == "maize" and r[4] == 2015)
    assert ha_noi_2015[5] > 1000 and ha_noi_2015[7] < 15


def test_national_total_is_the_sum_of_provinces(first_run, warehouse):
    measures = {"planted_area": "planted_area_ha", "production": "production_t"}
    for path in sorted(SAMPLES.glob("*.csv")):
        title = path.read_text(encoding="utf-8-sig").splitlines()[0]
        if title.startswith('"Yield'):
            continue
        measure = "planted_area" if title.startswith('"Planted area') else "production"
        crop, season = (
            ("maize", "whole_year")
            if "maize" in title
            else (("paddy", "spring") if "spring paddy" in title else ("paddy", "whole_year"))
        )
        sums = dict(
            warehouse.execute(
                sql.SQL("select year, sum({}) from {} where crop = %s and season = %s group by year").format(
                    sql.Identifier(measures[measure]), MART
                ),
                [crop, season],
            ).fetchall()
        )
        for year, national in national_rows(path).items():
            assert sums[year] == national * 1000, (path.name, year)


def test_ckan_has_the_dataset_its_csv_and_datastore_rows_equal_the_mart(first_run, warehouse, ckan_anonymous):
    pkg = ckan_anonymous.action.package_show(id=PACKAGE)
    assert pkg["title"] == catalog().dataset(DATASET).title_vi
    assert pkg["organization"]["title"] == catalog().agencies["statistics_office"].name_vi
    expected = mart_rows(warehouse)
    mart_resources = [r for r in pkg["resources"] if not r.get("kho_kpi")]  # not the KPI table beside it
    csv_resources = [r for r in mart_resources if r["format"].upper() == "CSV"]
    assert len(csv_resources) == 1
    assert sorted(r["format"] for r in mart_resources) == ["CSV", "JSON", "XLSX"]
    with urllib.request.urlopen(csv_resources[0]["url"]) as response:
        raw = response.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    from_csv = sorted(tuple(_norm(row[c]) for c in MART_COLUMNS) for row in reader)
    assert from_csv == sorted(tuple(_norm(v) for v in r) for r in expected)

    active = [r for r in pkg["resources"] if r.get("datastore_active")]
    assert active, "no DataStore table"
    search = ckan_anonymous.action.datastore_search(resource_id=active[0]["id"], limit=100000)
    assert search["total"] == len(expected)
    from_store = sorted(tuple(_norm(rec[c]) for c in MART_COLUMNS) for rec in search["records"])
    assert from_store == sorted(tuple(_norm(v) for v in r) for r in expected)


def _norm(value) -> str:
    """Compare CSV text, DataStore JSON and PostgreSQL values as the same decimal text."""
    if isinstance(value, bool) or str(value).lower() in ("true", "false"):
        return str(value).lower()
    try:
        return str(Decimal(str(value)).normalize())
    except ArithmeticError:
        return str(value)


def test_running_again_changes_nothing(first_run, warehouse, ckan):
    before = counts(warehouse, ckan)
    before_rows = mart_rows(warehouse)
    deliver(first_run, sorted(SAMPLES.glob("*.csv")))
    messages: list[str] = []
    assert run_pipeline([DATASET], first_run, echo=messages.append), "\n".join(messages)
    # every delivery was already landed, so the raw Asset did not change and the warehouse did not run
    assert any(m.strip().startswith(f"warehouse__{DATASET}: up to date") for m in messages), messages
    assert counts(warehouse, ckan) == before
    assert mart_rows(warehouse) == before_rows
    # and publishing again (as a forced warehouse run would) makes no write call to CKAN
    result = publish(DATASET, first_run)
    assert (result["status"], result["write_calls"]) == ("unchanged", 0)
    assert counts(warehouse, ckan) == before
