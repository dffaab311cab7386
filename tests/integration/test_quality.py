"""The quality gate against a real PostgreSQL and a real Great Expectations project: nothing is mocked.

The module runs its own embedded PostgreSQL under a temporary KHO_HOME on a free port, because it
rewrites raw_statistics_office.crop_statistics and marts.fct_crop_production, which other tests (and
a developer's demo) build with dbt. Paddy figures are the statistics office's 2014 and 2017 values
for eight Red River Delta provinces; the other crops are plausible values derived from them.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from kho.operations.services import ensure_database, start_postgres, stop_postgres
from kho.settings import REPO, Settings
from kho.validating.quality import (
    QualityError,
    build_data_docs,
    data_docs_index,
    format_result,
    gx_root,
    validate,
)

# code 2024, code 2025, name, {year: (paddy production t, paddy yield t/ha)}
PROVINCES = [
    ("01", "01", "Hà Nội", {2014: (1175500, 5.8), 2017: (1051100, 5.54)}),
    ("26", "25", "Vĩnh Phúc", {2014: (331200, 5.65), 2017: (320300, 5.53)}),
    ("27", "24", "Bắc Ninh", {2014: (439400, 6.04), 2017: (414900, 6.0)}),
    ("22", "22", "Quảng Ninh", {2014: (211300, 4.9), 2017: (195900, 4.71)}),
    ("30", "31", "Hải Dương", {2014: (742600, 5.94), 2017: (657900, 5.57)}),
    ("31", "31", "Hải Phòng", {2014: (484700, 6.29), 2017: (436700, 6.04)}),
    ("34", "33", "Thái Bình", {2014: (1061900, 6.56), 2017: (942600, 5.94)}),
    ("36", "37", "Nam Định", {2014: (937700, 6.05), 2017: (841900, 5.57)}),
]
ASCII_NAMES = {
    "01": "Ha Noi",
    "26": "Vinh Phuc",
    "27": "Bac Ninh",
    "22": "Quang Ninh",
    "30": "Hai Duong",
    "31": "Hai Phong",
    "34": "Thai Binh",
    "36": "Nam Dinh",
}

MART_DDL = """
create schema if not exists marts;
drop table if exists marts.fct_crop_production;
create table marts.fct_crop_production (
    province_code text, province_code_2025 text, province_name_vi text, crop text, season text, year int,
    planted_area_ha numeric, production_t numeric, yield_t_per_ha numeric, is_preliminary boolean
);
"""
RAW_DDL = """
create schema if not exists raw_statistics_office;
drop table if exists raw_statistics_office.crop_statistics;
create table raw_statistics_office.crop_statistics (
    _load_id text, _source_file text, _file_sha256 text, _source_row integer, _loaded_at timestamptz,
    table_title text, measure text, crop text, season text, unit text, area_name text, area_name_key text,
    year integer, is_preliminary boolean, value numeric
);
"""
MART_COLUMNS = (
    "province_code",
    "province_code_2025",
    "province_name_vi",
    "crop",
    "season",
    "year",
    "planted_area_ha",
    "production_t",
    "yield_t_per_ha",
    "is_preliminary",
)


def _round(x: float, places: int) -> Decimal:
    return round(Decimal(str(x)), places)


def mart_rows() -> list[dict]:
    """One row per province, crop, season and year, in hectares, tonnes and t/ha."""
    rows = []
    for code, code_2025, name, years in PROVINCES:
        for year, (production, paddy_yield) in years.items():
            area = production / paddy_yield
            crops = [  # crop, season, share of the paddy area, yield t/ha
                ("paddy", "whole_year", 1.0, paddy_yield),
                ("paddy", "spring", 0.5, paddy_yield * 1.06),
                ("paddy", "winter", 0.5, paddy_yield * 0.94),
                ("maize", "whole_year", 0.08, 4.6),
                ("sweet_potatoes", "whole_year", 0.02, 10.5),
                ("cassava", "whole_year", 0.01, 16.2),
                ("cereals", "whole_year", 1.08, (production + area * 0.08 * 4.6) / (area * 1.08)),
            ]
            for crop, season, share, yield_t in crops:
                planted = round(area * share, -1)
                rows.append(
                    dict(
                        zip(
                            MART_COLUMNS,
                            (
                                code,
                                code_2025,
                                name,
                                crop,
                                season,
                                year,
                                _round(planted, 0),
                                _round(planted * yield_t, 0),
                                _round(yield_t, 2),
                                year == 2017,
                            ),
                            strict=True,
                        )
                    )
                )
    return rows


def raw_rows(load_id: str, source_file: str) -> list[dict]:
    """The PX-Web rows a delivery of the mart's paddy figures lands as: delivered units, one row per measure."""
    measures = [
        ("planted_area", "thousand ha", "planted_area_ha", Decimal("0.001")),
        ("production", "thousand tonnes", "production_t", Decimal("0.001")),
        ("yield", "quintals/ha", "yield_t_per_ha", Decimal("10")),
    ]
    rows = []
    for row in mart_rows():
        if row["crop"] != "paddy":
            continue
        for measure, unit, column, factor in measures:
            name = ASCII_NAMES[row["province_code"]]
            rows.append(
                {
                    "_load_id": load_id,
                    "_source_file": source_file,
                    "_file_sha256": f"{len(source_file):064x}",
                    "_source_row": len(rows) + 4,
                    "_loaded_at": "2025-09-15 08:00+07",
                    "table_title": f"{measure.replace('_', ' ').capitalize()} of paddy by province and year",
                    "measure": measure,
                    "crop": "paddy",
                    "season": row["season"],
                    "unit": unit,
                    "area_name": name,
                    "area_name_key": name.lower().replace(" ", ""),
                    "year": row["year"],
                    "is_preliminary": row["is_preliminary"],
                    "value": (row[column] * factor).normalize(),
                }
            )
    return rows


def insert(conn: psycopg.Connection, table: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    with conn.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def quality_settings() -> Settings:
    """An embedded PostgreSQL and a GX project of this module's own, under a temporary KHO_HOME."""
    home = Path(tempfile.mkdtemp(prefix="kho-quality-"))
    home.chmod(0o755)  # as root, PostgreSQL runs as another user, who must reach its data directory
    s = Settings(repo=REPO, home=home, port_base=_free_port() - 32, external_postgres=None)
    try:
        start_postgres(s)
        ensure_database("kho", s=s)
        with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
            conn.execute(MART_DDL)
            conn.execute(RAW_DDL)
        yield s
    finally:
        stop_postgres(s)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def quality_db(quality_settings):
    """A connection to the test warehouse, with a good mart and no raw rows at the start of each test."""
    with psycopg.connect(quality_settings.warehouse_url, autocommit=True) as conn:
        conn.execute("truncate marts.fct_crop_production, raw_statistics_office.crop_statistics")
        insert(conn, "marts.fct_crop_production", mart_rows())
        yield conn


def quality_run(conn: psycopg.Connection, run_id: str) -> dict:
    cur = conn.execute(
        "select dataset, layer, load_id, success, critical_failures, warnings, statistics"
        " from kho_meta.quality_runs where run_id = %s",
        [run_id],
    )
    names = [d.name for d in cur.description]
    row = cur.fetchone()
    assert row is not None, f"no kho_meta.quality_runs row for {run_id}"
    return dict(zip(names, row, strict=True))


def test_a_good_mart_passes(quality_db, quality_settings):
    result = validate("crop_statistics", "mart", s=quality_settings)

    assert result.success, format_result(result)
    assert result.critical_failures == [] and result.warnings == []
    assert result.statistics["rows"] == len(mart_rows())
    assert result.statistics["evaluated_expectations"] == result.statistics["successful_expectations"]
    assert format_result(result) == (
        f"crop_statistics/mart OK: all {result.statistics['evaluated_expectations']} expectations passed"
    )
    # the page of this validation and the site's index, rendered when asked (once per DAG task or run)
    index = build_data_docs([result.run_id], s=quality_settings)
    assert index == data_docs_index(quality_settings) and index.is_file()
    pages = [p for p in (index.parent / "validations").rglob("*.html") if result.run_id in str(p)]
    assert len(pages) == 1 and "province_code" in pages[0].read_text(encoding="utf-8")


def test_a_malformed_code_fails_critically_and_says_which(quality_db, quality_settings):
    quality_db.execute(
        "update marts.fct_crop_production set province_code = '1'"
        " where province_code = '01' and crop = 'maize' and year = 2017"
    )
    (broken,) = quality_db.execute(
        "select count(*) from marts.fct_crop_production where province_code = '1'"
    ).fetchone()

    result = validate("crop_statistics", "mart", s=quality_settings)

    assert not result.success and broken > 0
    (failure,) = result.critical_failures
    assert failure.expectation == "expect_column_values_to_match_regex"
    assert failure.column == "province_code"
    assert failure.unexpected_count == broken
    assert failure.element_count == len(mart_rows())
    assert failure.why
    assert format_result(result).splitlines() == [
        "crop_statistics/mart CRITICAL expect_column_values_to_match_regex(province_code; regex=^[0-9]{2}$):"
        f" {broken} unexpected of {len(mart_rows())} rows, e.g. 1"
    ]


def test_an_unusual_but_consistent_yield_only_warns(quality_db, quality_settings):
    # 14.8 t/ha of maize in Thái Bình: outside the band, but possible, and production says the same
    quality_db.execute(
        "update marts.fct_crop_production set yield_t_per_ha = 14.8, production_t = planted_area_ha * 14.8"
        " where province_code = '34' and crop = 'maize' and year = 2014"
    )

    result = validate("crop_statistics", "mart", s=quality_settings)

    assert result.success, format_result(result)
    assert result.critical_failures == []
    band = next(w for w in result.warnings if w.expectation == "expect_column_values_to_be_between")
    assert band.column == "yield_t_per_ha"
    assert "where crop == maize" in band.kwargs
    assert band.unexpected_count == 1
    assert band.element_count == 16  # the maize rows only: the band applies to maize
    assert "WARNING expect_column_values_to_be_between(yield_t_per_ha; min_value=0.5, max_value=12," in (
        format_result(result)
    )
    # three times the 2017 figure: yield and production stand out from their series, in 2014 and in 2017
    (spike,) = [w for w in result.warnings if w.expectation == "unexpected_rows_expectation"]
    assert spike.column.startswith("a figure 40% above or below") and spike.observed == "observed 4"


def test_a_yield_in_quintals_is_stopped(quality_db, quality_settings):
    """The incident: Hà Nội's maize yield for 2014 delivered as 950 where 95.0 q/ha belonged, so 95 t/ha."""
    quality_db.execute(
        "update marts.fct_crop_production set yield_t_per_ha = 95"
        " where province_code = '01' and crop = 'maize' and year = 2014"
    )

    result = validate("crop_statistics", "mart", s=quality_settings)

    assert not result.success
    stopped = {(f.expectation, f.column) for f in result.critical_failures}
    assert stopped == {
        ("expect_column_values_to_be_between", "yield_t_per_ha"),  # impossible for maize
        (
            "unexpected_rows_expectation",  # and twenty times production / area
            "yield differs from production / planted area by more than 25% (beyond rounding)",
        ),
    }
    impossible = next(f for f in result.critical_failures if f.column == "yield_t_per_ha")
    assert "max_value=20" in impossible.kwargs and impossible.unexpected_count == 1
    assert "e.g. 95" in impossible.observed
    assert all(f.why for f in result.critical_failures)


def test_a_small_rounding_gap_between_yield_and_production_passes(quality_db, quality_settings):
    # the office rounds each figure on its own: 0.1 thousand ha and t, 0.1 quintal/ha
    quality_db.execute(
        "update marts.fct_crop_production set yield_t_per_ha = yield_t_per_ha + 0.04"
        " where province_code = '27' and crop = 'paddy' and year = 2017"
    )

    result = validate("crop_statistics", "mart", s=quality_settings)

    assert result.success and result.warnings == [], format_result(result)


def test_each_run_is_recorded_in_kho_meta(quality_db, quality_settings):
    quality_db.execute("update marts.fct_crop_production set province_code = '1' where province_code = '01'")

    result = validate("crop_statistics", "mart", s=quality_settings)

    row = quality_run(quality_db, result.run_id)
    assert (row["dataset"], row["layer"], row["load_id"], row["success"]) == (
        "crop_statistics",
        "mart",
        None,
        False,
    )
    (failure,) = row["critical_failures"]
    assert failure["expectation"] == "expect_column_values_to_match_regex"
    assert failure["column"] == "province_code"
    assert failure["severity"] == "critical"
    assert failure["unexpected_count"] == 14
    assert failure["summary"].startswith(
        "expect_column_values_to_match_regex(province_code; regex=^[0-9]{2}$)"
    )
    assert row["warnings"] == []
    assert row["statistics"]["rows"] == len(mart_rows())
    json.dumps(row["statistics"])  # plain JSON, readable by kho status


def test_raw_validation_of_one_load_ignores_a_bad_earlier_load(quality_db, quality_settings):
    original = raw_rows("2025-03-original", "paddy_2025-03.csv")
    original[0]["unit"] = "thousand tonnes"  # planted area labelled with the production unit
    original[5]["value"] = Decimal("-1")
    insert(quality_db, "raw_statistics_office.crop_statistics", original)
    revision = raw_rows("2025-09-revision", "paddy_2025-09.csv")
    insert(quality_db, "raw_statistics_office.crop_statistics", revision)

    good = validate("crop_statistics", "raw", load_id="2025-09-revision", s=quality_settings)
    bad = validate("crop_statistics", "raw", load_id="2025-03-original", s=quality_settings)
    whole = validate("crop_statistics", "raw", s=quality_settings)

    assert good.success, format_result(good)
    assert good.statistics["rows"] == len(revision)
    assert quality_run(quality_db, good.run_id)["load_id"] == "2025-09-revision"
    assert not bad.success
    # the unit that does not belong to the measure: the critical measure/unit rule (a SQL rule over the
    # known measures, so that a measure a table declares itself can land); the negative area: the bounds
    assert {f.expectation for f in bad.critical_failures} == {
        "unexpected_rows_expectation",
        "expect_column_values_to_be_between",
    }
    # the negative value: one row of the original load's (the SQL rule reports the rows it found, no count)
    (bounds,) = [f for f in bad.critical_failures if f.expectation == "expect_column_values_to_be_between"]
    assert (bounds.unexpected_count, bounds.element_count) == (1, len(original))
    assert not whole.success and whole.statistics["rows"] == len(original) + len(revision)


def test_a_sql_rule_counts_every_row_it_finds_beyond_those_it_shows(quality_db, quality_settings):
    # GX shows a SQL rule's first 200 rows; its count must still be all of them (kho/validating/gx_metrics.py)
    rows = raw_rows("2025-03-original", "paddy_2025-03.csv")
    # every area labelled with the production unit, in a file of five copies of the table
    areas = [
        {**r, "unit": "thousand tonnes", "_source_row": r["_source_row"] + 1000 * copy}
        for copy in range(5)
        for r in rows
        if r["measure"] == "planted_area"
    ]
    assert len(areas) > 200
    insert(quality_db, "raw_statistics_office.crop_statistics", rows + areas)

    result = validate("crop_statistics", "raw", load_id="2025-03-original", s=quality_settings)

    (rule,) = [f for f in result.critical_failures if f.expectation == "unexpected_rows_expectation"]
    assert rule.observed == f"observed {len(areas)}"


def test_a_revision_is_counted_and_a_large_one_warns(quality_db, quality_settings):
    from kho.operations.status import dataset_status

    insert(
        quality_db, "raw_statistics_office.crop_statistics", raw_rows("2025-03-original", "paddy_2025-03.csv")
    )
    revision = raw_rows("2025-09-revision", "paddy_2025-09.csv")
    for row in revision:
        row["_loaded_at"] = "2025-09-20 08:00+07"
    small, large = revision[1], revision[2]  # Hà Nội 2014 whole-year production and yield
    assert (small["measure"], large["measure"]) == ("production", "yield")
    small["value"] = (small["value"] * Decimal("1.02")).quantize(Decimal("0.1"))  # final figures: +2%
    old_yield = large["value"]
    large["value"] = old_yield * 10  # the decimal point lost: 580 for 58.0 q/ha
    insert(quality_db, "raw_statistics_office.crop_statistics", revision)

    result = validate("crop_statistics", "raw", load_id="2025-09-revision", s=quality_settings)
    first = validate("crop_statistics", "raw", load_id="2025-03-original", s=quality_settings)

    assert result.success, format_result(result)  # a revision warns; it does not block
    (warning,) = result.warnings
    assert warning.expectation == "unexpected_rows_expectation"
    assert warning.column == "figures revised by more than 5% since the previous delivery"
    assert warning.observed == "observed 1"
    revisions = result.statistics["revisions"]
    assert (revisions["revised"], revisions["beyond_threshold"], revisions["warn_above"]) == (2, 1, 0.05)
    biggest = revisions["largest"][0]
    assert revisions["key"] == ["measure", "crop", "season", "area_name_key", "year"]
    assert biggest["key"] == ["yield", "paddy", "whole_year", "hanoi", "2014"]
    assert (biggest["previous"], biggest["change"]) == (str(old_yield), 9.0)
    assert quality_run(quality_db, result.run_id)["statistics"]["revisions"] == revisions
    # the first delivery revises nothing: no earlier load
    assert first.statistics["revisions"]["revised"] == 0 and first.warnings == []
    # kho status quotes the latest raw run that compared figures: here the first delivery's, then the revision's
    quality_db.execute(
        "update kho_meta.quality_runs set run_at = run_at - interval '1 hour' where run_id = %s",
        [first.run_id],
    )
    (status,) = [r for r in dataset_status(quality_settings) if r.dataset == "crop_statistics"]
    assert status.revisions.startswith(
        "2 figures revised (1 by more than 5%); largest: value (yield, paddy, whole_year, hanoi, 2014)"
        f" {old_yield} -> {old_yield * 10} (+900%); value (production, paddy, whole_year, hanoi, 2014)"
    )


def test_an_unknown_load_is_an_error_not_a_pass(quality_db, quality_settings):
    insert(quality_db, "raw_statistics_office.crop_statistics", raw_rows("2025-09-revision", "paddy.csv"))

    with pytest.raises(
        QualityError, match="load 'no-such-load' has no rows in raw_statistics_office.crop_statistics"
    ):
        validate("crop_statistics", "raw", load_id="no-such-load", s=quality_settings)


def test_reruns_reuse_the_gx_project_and_keep_every_result(quality_db, quality_settings):
    results = gx_root(quality_settings) / "uncommitted" / "validations"

    def stored() -> int:
        return len(list(results.rglob("*.json")))

    before = stored()
    first = validate("crop_statistics", "mart", s=quality_settings)
    second = validate("crop_statistics", "mart", s=quality_settings)

    assert first.success and second.success and first.run_id != second.run_id
    assert stored() == before + 2
    assert first.run_id in {p.parent.parent.name for p in results.rglob("*.json")}


# Phone numbers in a shape the suite does not expect (a warning): personal data, never to be quoted.
BAD_PHONES = ["0982 53", "Triệu Văn Thắng", "035-097"]


def organic_rows(load_id: str) -> list[dict]:
    """Ten zones of one organic-zones delivery; three phone numbers malformed, one area implausibly small."""
    rows = []
    for i in range(10):
        rows.append(
            {
                "_load_id": load_id,
                "_source_file": "vung_huu_co_quy_3_2025.csv",
                "_file_sha256": "c" * 64,
                "_source_row": i + 2,
                "_loaded_at": "2025-09-15 08:00+07",
                "zone_code": f"HC-08-CST-{i:03}",
                "commune_name": "Xã Yên Hoa",
                "commune_name_key": "yen hoa",
                "crop": "Chè Shan tuyết",
                "area_ha": Decimal("0.05") if i == 9 else Decimal("12.5"),
                "certificate_body": "Trung tâm Chứng nhận Hữu cơ Miền Bắc",
                "certificate_number": f"{290 + i}/2024/TCVN-HC",
                "issue_date": "2024-05-12",
                "expiry_date": "2026-05-11",
                "household_name": f"Hộ số {i}",
                "phone": BAD_PHONES[i] if i < len(BAD_PHONES) else f"0982 530 8{i:02}",
            }
        )
    return rows


def test_a_finding_on_a_personal_column_quotes_no_value(quality_db, quality_settings):
    from kho.catalog import catalog
    from kho.landing.land import ensure_raw_table

    ds = catalog().dataset("organic_zones")
    assert ds.column("phone").personal_data
    ensure_raw_table(quality_db, ds)
    quality_db.execute("truncate raw_agriculture.organic_zones")
    insert(quality_db, "raw_agriculture.organic_zones", organic_rows("2025-q3"))

    result = validate("organic_zones", "raw", load_id="2025-q3", s=quality_settings)

    assert result.success  # both checks that fail are warnings
    by_column = {f.column: f for f in result.warnings}
    phone = by_column["phone"]
    assert phone.expectation == "expect_column_values_to_match_regex"
    assert (phone.unexpected_count, phone.element_count, phone.personal_data) == (3, 10, True)
    assert phone.observed == "3 unexpected of 10 rows (values not shown: personal data)"
    # the area is no personal data: its finding still shows the value, so the filter is the column's flag
    assert by_column["area_ha"].observed.endswith("e.g. 0.05")

    # the user-facing forms: the log line, what the DAG task returns (XCom), kho_meta.quality_runs, and
    # Great Expectations' own stored result and Data Docs page
    from flow import validate as flow_validate

    returned = flow_validate("organic_zones", "raw", load_id="2025-q3", s=quality_settings)
    stored = quality_run(quality_db, result.run_id)
    build_data_docs([result.run_id], s=quality_settings)
    gx_files = [
        p.read_text(encoding="utf-8")
        for p in gx_root(quality_settings).rglob("*")
        if p.is_file() and result.run_id in str(p)
    ]
    assert len(gx_files) == 2  # the stored result (json) and its page (html)
    texts = {
        "log": format_result(result) + "\n" + str(phone),
        "xcom": json.dumps(returned, ensure_ascii=False),
        "kho_meta.quality_runs": json.dumps(stored, ensure_ascii=False, default=str),
        "gx": "\n".join(gx_files),
    }
    assert "values not shown: personal data" in texts["log"]
    assert "values not shown: personal data" in texts["xcom"]
    for where, text in texts.items():
        for value in BAD_PHONES:
            assert value not in text, f"{value!r} quoted in {where}"
