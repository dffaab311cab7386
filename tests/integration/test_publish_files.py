"""The files a dataset is offered as: CSV, XLSX and JSON, GeoJSON when its rows are places; each the
mart's rows, with its byte size and checksum on the portal, and no cell a spreadsheet would run.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
import zipfile
from decimal import Decimal

import pytest
from psycopg import sql
from python_calamine import CalamineWorkbook

pytest.register_assert_rewrite("tests.integration.conftest_ckan")
from publishers.ckan import publish  # noqa: E402
from tests.integration.conftest_ckan import NAMES, ROWS, norm  # noqa: E402

pytest_plugins = ["tests.integration.conftest_ckan"]

pytestmark = pytest.mark.e2e


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def by_format(ckan_site, package_id: str) -> dict[str, dict]:
    pkg = ckan_site.anonymous.action.package_show(id=package_id)
    return {r["format"]: r for r in pkg["resources"]}


def expected_rows(mart) -> list[tuple]:
    return sorted(tuple(norm(v) for v in row) for row in mart.rows())


@pytest.mark.parametrize("apart", [False, True], ids=["xlsx-in-process", "xlsx-by-a-child-process"])
def test_xlsx_and_json_hold_the_same_rows_with_size_and_checksum(ckan_site, mart, apart, monkeypatch):
    # a large table's XLSX is written by a child process reading the same snapshot (publishers/xlsx_apart.py)
    monkeypatch.setattr("publishers.table.XLSX_APART_ROWS", 0 if apart else 10**12)
    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    files = by_format(ckan_site, result.package_id)
    assert list(files) == ["CSV", "XLSX", "JSON"]
    assert files["XLSX"]["mimetype"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert files["JSON"]["mimetype"] == "application/json"
    for resource in files.values():
        raw = download(resource["url"])
        assert resource["size"] == len(raw), resource["format"]
        assert resource["hash"] == hashlib.sha256(raw).hexdigest(), resource["format"]
        assert resource["name"].endswith(f"({resource['format']})")
        assert resource["description"].index("dòng") < resource["description"].index("rows")

    records = json.loads(download(files["JSON"]["url"]))
    assert sorted(tuple(norm(r[c]) for c in NAMES) for r in records) == expected_rows(mart)
    hanoi = next(r for r in records if r["province_code"] == "01" and r["year"] == 2024)
    # typed: numbers are numbers, booleans booleans, text as it is (no apostrophe)
    assert (hanoi["planted_area_ha"], hanoi["is_preliminary"]) == (158300.0, True)
    assert any(r["province_name_vi"] == '=HYPERLINK("http://x")' for r in records)

    raw = download(files["XLSX"]["url"])
    rows = CalamineWorkbook.from_filelike(io.BytesIO(raw)).get_sheet_by_index(0).to_python()
    assert rows[0] == NAMES
    from_xlsx = sorted(tuple(norm(_cell(v)) for v in row) for row in rows[1:])
    assert from_xlsx == expected_rows(mart)
    # the formula-looking name is a text cell: no formula anywhere in the sheet
    sheet = zipfile.ZipFile(io.BytesIO(raw)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "HYPERLINK" in sheet


def _cell(value):
    """A spreadsheet cell as the mart's text: whole floats as integers (a year), empty as NULL."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        return Decimal(str(value))
    return None if value == "" else value


def test_places_are_published_as_geojson_too(ckan_site, mart):
    mart.conn.execute(
        sql.SQL("alter table {} add column longitude numeric, add column latitude numeric").format(mart.ident)
    )
    mart.conn.execute(
        sql.SQL(
            "update {} set longitude = 105.2 + year / 10000.0, latitude = 21.8 where crop = 'paddy'"
        ).format(mart.ident)
    )

    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    files = by_format(ckan_site, result.package_id)
    assert list(files) == ["CSV", "XLSX", "JSON", "GeoJSON"]
    geo = files["GeoJSON"]
    assert geo["mimetype"] == "application/geo+json"
    doc = json.loads(download(geo["url"]))
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(ROWS)
    points = [f for f in doc["features"] if f["geometry"]]
    assert len(points) == sum(1 for r in ROWS if r[3] == "paddy")
    hanoi = next(
        f for f in points if f["properties"]["year"] == 2024 and f["properties"]["province_code"] == "01"
    )
    assert hanoi["geometry"] == {"type": "Point", "coordinates": [105.4024, 21.8]}  # longitude first
    assert "longitude" not in hanoi["properties"]

    # the coordinates go: so does the GeoJSON, and nothing else is uploaded again
    mart.conn.execute(
        sql.SQL("alter table {} drop column longitude, drop column latitude").format(mart.ident)
    )
    publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    assert list(by_format(ckan_site, result.package_id)) == ["CSV", "XLSX", "JSON"]
    assert publish(mart.dataset, ckan_site.settings, manifest=mart.manifest).write_calls == 0
