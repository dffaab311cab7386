"""The publisher's pure parts, without services: periods, labels and units, the portal's texts, and the
licences it accepts."""

from __future__ import annotations

from datetime import date

import pytest

from kho.catalog import catalog
from publishers.ckan import open_licences
from publishers.metadata import (
    LANGUAGES,
    DbtDocs,
    Facts,
    Provenance,
    Spatial,
    Temporal,
    _period,
    data_dictionary,
    package_differences,
    package_metadata,
)
from publishers.table import Column, Table


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2024", date(2024, 1, 1), date(2024, 12, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2025-Q3", date(2025, 7, 1), date(2025, 9, 30)),
        ("2025Q1", date(2025, 1, 1), date(2025, 3, 31)),
        ("2025-06-15", date(2025, 6, 15), date(2025, 6, 15)),
        ("tháng 6", None, None),
        ("", None, None),
    ],
)
def test_periods(text, start, end):
    assert (_period(text, start=True), _period(text, start=False)) == (start, end)


def test_labels_and_units_from_dbt_descriptions():
    table = Table("marts", "t", [Column(n, "numeric") for n in ("area", "season", "month", "code")], 1)
    docs = DbtDocs(
        descriptions={
            "area": "Diện tích gieo trồng (ha). / Planted area (hectares).",
            "season": "Vụ: whole_year (cả năm), spring (đông xuân). / Season.",
            "month": "Tháng công bố (ngày đầu tháng). / Bulletin month (its first day).",
            "code": "Mã tỉnh 2 chữ số theo danh mục của số liệu (danh mục 2024, hoặc mã tỉnh cũ như Hà Tây 28). / Code.",
        }
    )
    info = data_dictionary(table, catalog().dataset("crop_statistics"), docs)

    assert (info["area"]["label"], info["area"]["unit"]) == ("Diện tích gieo trồng (ha)", "ha")
    assert "Planted area (hectares)" in info["area"]["notes"] and "unit: ha" in info["area"]["notes"]
    assert info["season"]["label"] == "Vụ"
    assert info["month"]["label"] == "Tháng công bố (ngày đầu tháng)" and "unit" not in info["month"]
    assert info["code"]["label"] == "Mã tỉnh 2 chữ số theo danh mục của số liệu"


def test_spatial_text_names_the_place_and_the_units():
    assert Spatial(124, "commune", "Tỉnh Tuyên Quang", "Tuyen Quang province").text == (
        "Tỉnh Tuyên Quang: 124 xã, phường, đặc khu (Tuyen Quang province: 124 communes, wards and special zones)"
    )
    assert Spatial(64, "province", "Cả nước", "Viet Nam").text.startswith("Cả nước: 64 tỉnh, thành phố")


def test_package_metadata_is_vietnamese_first_and_dcat_ready():
    ds = catalog().dataset("crop_statistics")
    agency = catalog().agencies[ds.agency]
    facts = Facts(
        site_url="http://portal",
        org_name="statistics-office",
        temporal=Temporal(date(1995, 1, 1), date(2016, 12, 31), "1995–2016"),
        spatial=Spatial(64, "province", "Cả nước", "Viet Nam"),
        provenance=Provenance("marts.fct_crop_production", [], None),
    )
    pkg = package_metadata(ds, agency, "org-id", facts)
    extras = {e["key"]: e["value"] for e in pkg["extras"]}

    assert pkg["title"] == ds.title_vi and pkg["notes"].startswith(ds.description_vi)
    assert pkg["notes"].index("**Thời gian:** 1995–2016") < pkg["notes"].index(ds.title_en)
    assert (extras["temporal_start"], extras["temporal_end"]) == ("1995-01-01", "2016-12-31")
    assert extras["language"] == '["' + '", "'.join(LANGUAGES) + '"]'
    assert (
        extras["publisher_url"] == extras["publisher_uri"] == "http://portal/organization/statistics-office"
    )
    assert "modified" not in extras  # unknown build time: CKAN's own metadata_modified stands
    assert package_differences({**pkg, "extras": list(reversed(pkg["extras"]))}, pkg) == {}
    assert set(package_differences({**pkg, "title": "x"}, pkg)) == {"title"}


def test_only_licences_open_for_any_reuse_are_accepted():
    assert {"cc-by-4.0", "cc-by-sa-4.0", "cc0-1.0", "odc-by-1.0"} <= open_licences()
    assert "other-closed" not in open_licences()
