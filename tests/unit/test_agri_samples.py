"""The agriculture and construction sample deliveries, read by the real readers with the catalog: every row
delivered is landed or quarantined, the commune spellings resolve to communes of the province, yields land in
the column of their unit, and the open organic-zone table cannot carry personal data. No services needed."""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from pathlib import Path

import pytest
import yaml

from kho.catalog import catalog
from kho.landing.areas import COMMUNE_ALIASES
from kho.landing.land import check_record
from kho.landing.names import match_key
from kho.landing.readers import Record, reader_for
from kho.settings import REPO
from kho.validating.quality import read_suite_file, suite_path

SAMPLES = REPO / "samples"
PROVINCE = "08"  # Tuyên Quang, the samples' province (dbt var kho_province_code)
DATASETS = ["crop_production_commune", "organic_zones", "material_prices"]


def read(dataset_id: str, path: Path) -> list[Record]:
    ds = catalog().dataset(dataset_id)
    return list(reader_for(ds.source.format)(ds, path, path.name))


def land(dataset_id: str, path: Path) -> tuple[list[Record], list[tuple[Record, str]]]:
    """(records that would land, (record, reason) quarantined), as kho.landing.land decides, without a database."""
    ds = catalog().dataset(dataset_id)
    landed, quarantined = [], []
    for record in read(dataset_id, path):
        problem = (
            (record.issues[0].column, record.issues[0].expected)
            if record.issues
            else check_record(ds, record)
        )
        if problem is None:
            landed.append(record)
        else:
            quarantined.append((record, problem[1]))
    return landed, quarantined


def sample_files(dataset_id: str) -> list[Path]:
    return sorted(p for p in (SAMPLES / dataset_id).iterdir() if p.is_file())


@pytest.fixture(scope="module")
def commune_aliases() -> dict[tuple[str, str], dict[str, str]]:
    """(alias key, vintage) -> alias row, for the samples' province."""
    with COMMUNE_ALIASES.open(encoding="utf-8", newline="") as f:
        return {
            (row["alias_key"], row["vintage"]): row
            for row in csv.DictReader(f)
            if row["province_code"] == PROVINCE
        }


def resolve(aliases, name: str, prefer: str) -> dict[str, str] | None:
    """The alias row a name resolves to, preferring one list's meaning (as the int models do)."""
    key = match_key(name)
    other = "2024" if prefer == "2025" else "2025"
    return aliases.get((key, prefer)) or aliases.get((key, other))


@pytest.mark.parametrize("dataset_id", DATASETS)
def test_every_delivered_row_lands_or_is_quarantined(dataset_id):
    for path in sample_files(dataset_id):
        records = read(dataset_id, path)
        landed, quarantined = land(dataset_id, path)
        assert records, path.name
        assert len(records) == len(landed) + len(quarantined), path.name
        assert not any(r.issues for r in records), path.name  # no value problem in the samples


def test_crop_tables_deliver_every_commune_row_and_quarantine_the_misspelt_one():
    counts = {}
    for path in sample_files("crop_production_commune"):
        landed, quarantined = land("crop_production_commune", path)
        counts[path.name] = (len(landed), [(r.raw["Tên xã, phường"], why) for r, why in quarantined])
    assert counts["vu_dong_xuan_2025.xlsx"] == (25, [])
    landed_2024, quarantined_2024 = counts["dien_tich_nang_suat_san_luong_2024.xlsx"]
    assert landed_2024 == 41
    ((name, why),) = quarantined_2024
    assert name == "Xã Bạch Sa" and "Xã Bạch Xa" in why  # the steward is told the likely commune


def test_crop_headings_totals_and_notes_are_not_rows():
    path = SAMPLES / "crop_production_commune" / "dien_tich_nang_suat_san_luong_2024.xlsx"
    rows = [r.rows[0] for r in read("crop_production_commune", path)]
    names = [row["commune_name"] for row in rows]
    assert not [n for n in names if n.isupper() and n.startswith("HUYỆN")]
    assert "Tổng cộng" not in names
    assert {row["district_name"] for row in rows} >= {"I HUYỆN LÂM BÌNH", "IX HUYỆN BẮC QUANG"}
    assert {row["report_sheet"] for row in rows} == {"Năm 2024"}


def test_yields_land_in_the_column_of_their_unit():
    """tạ/ha in the 2024 table, tấn/ha in the 2025 one: the header decides the column, never a guess."""
    folder = SAMPLES / "crop_production_commune"
    old = [
        r.rows[0] for r in read("crop_production_commune", folder / "dien_tich_nang_suat_san_luong_2024.xlsx")
    ]
    new = [r.rows[0] for r in read("crop_production_commune", folder / "vu_dong_xuan_2025.xlsx")]

    def filled(rows, suffix):
        return {k for row in rows for k, v in row.items() if k.endswith(suffix) and v is not None}

    assert filled(old, "_yield_q_ha") and not filled(old, "_yield_t_ha")
    assert filled(new, "_yield_t_ha") and not filled(new, "_yield_q_ha")
    # Vietnamese number text (1.234,5) and typed numbers both land; production agrees with area x yield
    for row in old:
        if row["spring_paddy_area_ha"] is not None:
            computed = row["spring_paddy_area_ha"] * row["spring_paddy_yield_q_ha"] / 10
            assert abs(computed - row["spring_paddy_production_t"]) <= 1, row["commune_name"]


@pytest.mark.parametrize("dataset_id", ["crop_production_commune", "organic_zones"])
def test_commune_spellings_all_resolve(dataset_id, commune_aliases):
    resolved, spellings = Counter(), set()
    for path in sample_files(dataset_id):
        landed, _ = land(dataset_id, path)
        for record in landed:
            row = record.rows[0]
            sheet = row.get("report_sheet") or ""
            prefer = "2024" if dataset_id == "crop_production_commune" and "2024" in sheet else "2025"
            alias = resolve(commune_aliases, row["commune_name"], prefer)
            assert alias is not None, (
                f"{path.name}: {row['commune_name']!r} is no commune of province {PROVINCE}"
            )
            assert alias["status"] == "unique", f"{path.name}: {row['commune_name']!r} is ambiguous"
            assert alias["commune_code_2025"], f"{path.name}: {row['commune_name']!r} was split"
            resolved[alias["vintage"]] += 1
            spellings.add(row["commune_name"])
    assert resolved["2025"] and resolved["2024"]  # current and pre-2025 names both occur
    if dataset_id == "crop_production_commune":
        # the many ways the department writes a commune
        assert {
            "xã phúc sơn",
            "Minh Quang",
            "Hồng Quang",
            "XÃ KHAU TINH",
            "Xã Hoà An",
            "XÃ HÀM YÊN",
        } <= spellings


def test_material_bulletins_one_sheet_per_month_sections_and_notes():
    folder = SAMPLES / "material_prices"
    rows = [r.rows[0] for p in sample_files("material_prices") for r in read("material_prices", p)]
    assert Counter(row["bulletin_sheet"] for row in rows) == {"T01-2025": 36, "T02-2025": 36, "T03-2025": 36}
    assert {row["material_group"] for row in rows} >= {"I XI MĂNG", "II CÁT, ĐÁ, SỎI", "I. XI MĂNG"}
    assert all(isinstance(row["price_vnd"], int) and row["price_vnd"] > 0 for row in rows)
    assert not [row for row in rows if row["material_name"].startswith(("Ghi chú", "Nguồn", "Người lập"))]
    cement = next(
        row
        for row in read("material_prices", folder / "gia_vlxd_T01-T02_2025.xlsx")
        if row.rows[0]["material_name"] == "Xi măng PCB40"
    )
    assert cement.raw["Giá chưa có thuế GTGT (đồng)"].count(".") == 2  # delivered as text "1.541.000"


def test_the_open_organic_table_has_no_personal_data_column():
    ds = catalog().dataset("organic_zones")
    personal = {c.name for c in ds.columns if c.personal_data}
    assert personal == {"household_name", "phone"}
    # the raw rows keep them for the department
    landed, _ = land("organic_zones", sample_files("organic_zones")[0])
    assert all(r.rows[0]["household_name"] and r.rows[0]["phone"] for r in landed)
    # the published model's contract lists none of them, and the GX mart suite pins exactly that column set
    model = yaml.safe_load(
        (REPO / "dbt_project/models/marts/fct_organic_zone.yml").read_text(encoding="utf-8")
    )
    columns = [c["name"] for c in model["models"][0]["columns"]]
    assert model["models"][0]["config"]["contract"]["enforced"] is True
    assert not personal & set(columns)
    (pinned,) = [
        e
        for e in read_suite_file(suite_path("organic_zones", "mart"))
        if e.expectation == "expect_table_columns_to_match_set"
    ]
    assert pinned.severity == "critical" and pinned.kwargs["exact_match"] is True
    assert sorted(pinned.kwargs["column_set"]) == sorted(columns)
    # and the open path to it selects none of them (only the restricted dim_organic_zone_contact does)
    for model in ("intermediate/int_organic_zones__matched.sql", "marts/fct_organic_zone.sql"):
        lines = (REPO / "dbt_project/models" / model).read_text(encoding="utf-8").splitlines()
        code = "\n".join(line.split("--")[0] for line in lines)  # comments aside
        assert not [c for c in personal if c in code], model
    contacts = (REPO / "dbt_project/models/marts/dim_organic_zone_contact.sql").read_text(encoding="utf-8")
    assert all(c in contacts for c in personal)


def test_samples_are_what_the_script_makes(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_samples_agri", REPO / "scripts" / "make_samples_agri.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.SAMPLES = tmp_path
    module.main()
    for dataset_id in DATASETS:
        made = {p.name: p.read_bytes() for p in (tmp_path / dataset_id).iterdir()}
        committed = {p.name: p.read_bytes() for p in sample_files(dataset_id)}
        assert made == committed, f"samples/{dataset_id} differ from scripts/make_samples_agri.py's output"
