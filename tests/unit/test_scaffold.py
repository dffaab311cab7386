"""`kho dataset new`'s reading of a sample: the same columns from the CSV export and from the workbook it came
from, ids in snake_case ASCII with the Vietnamese header kept, types, key, places and personal data."""

from __future__ import annotations

import csv

import openpyxl
import pytest

from kho.catalog import catalog
from kho.conforming.scaffold import ScaffoldError, infer_columns, plan, read_sample
from kho.settings import REPO

SAMPLE = REPO / "tests" / "data" / "onboarding" / "danh_muc_di_tich_2026.csv"
EXPECTED = {
    # id: (header, type, key, match, personal)
    "ma_di_tich": ("Mã di tích", "text", True, None, False),
    "ten_di_tich": ("Tên di tích", "text", False, None, False),
    "loai_hinh": ("Loại hình", "text", False, None, False),
    "cap_xep_hang": ("Cấp xếp hạng", "text", False, None, False),
    "nam_xep_hang": ("Năm xếp hạng", "integer", False, None, False),
    "dia_chi": ("Địa chỉ", "text", False, "address", False),
    "nguoi_phu_trach": ("Người phụ trách", "text", False, None, True),
    "so_dien_thoai": ("Số điện thoại", "text", False, None, True),
    "dien_tich_khoanh_vung_m2": ("Diện tích khoanh vùng (m2)", "numeric", False, None, False),
    "ngay_cap_nhat": ("Ngày cập nhật", "date", False, None, False),
}


def columns(path):
    inferred, ignored = infer_columns(read_sample(path, "heritage_sites"))
    assert ignored == ["STT"]
    return {
        i.column.name: (i.header, i.column.type, i.column.key, i.column.match, i.column.personal_data)
        for i in inferred
    }


def test_the_csv_export_gives_every_column():
    assert columns(SAMPLE) == EXPECTED


def test_the_workbook_gives_the_same_columns(tmp_path):
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.append(["DANH MỤC DI TÍCH ĐÃ XẾP HẠNG"])  # a title above the header, as workbooks have
    sheet.append([])
    with SAMPLE.open(encoding="utf-8-sig", newline="") as f:
        for n, row in enumerate(csv.reader(f)):
            if n:  # typed cells as Excel keeps them: numbers and years as numbers
                row[0], row[5] = int(row[0]), int(row[5])
            sheet.append(row)
    path = tmp_path / "danh_muc_di_tich.xlsx"
    wb.save(path)
    assert columns(path) == EXPECTED


def test_the_key_can_be_named_and_must_be_distinct():
    sample = read_sample(SAMPLE, "heritage_sites")
    inferred, _ = infer_columns(sample, key="ten_di_tich")
    assert [i.column.name for i in inferred if i.column.key] == ["ten_di_tich"]
    with pytest.raises(ScaffoldError, match="not all present and distinct"):
        infer_columns(sample, key="loai_hinh")


def test_an_unknown_agency_or_an_existing_dataset_is_refused_with_the_fix():
    with pytest.raises(ScaffoldError, match="is not in catalog/agencies.yml .*: add it there first"):
        plan("heritage_sites", "culture", SAMPLE)
    with pytest.raises(ScaffoldError, match="already exists"):
        plan("organic_zones", "agriculture", SAMPLE)


def test_the_plan_is_shared_never_published_and_reads_back():
    p = plan("heritage_sites", "culture_tourism", SAMPLE, cat=catalog())
    assert p.dataset.classification == "shared"
    assert p.dataset.retention_days == 730
    assert p.dataset.publish.model == "dim_heritage_sites"
    mart = next(text for path, text in p.files.items() if path.name == "dim_heritage_sites.sql")
    assert "nguoi_phu_trach" not in mart and "so_dien_thoai" not in mart
    assert all(
        len(line) <= 110 for text in p.files.values() for line in text.splitlines() if line.startswith("--")
    )
