"""`kho match-report` on the sample deliveries, against the raw tables and kho_meta.quarantine: every commune
name delivered is counted once, as matched, ambiguous, split or unknown, and as the dataset's own
intermediate model counts it."""

from __future__ import annotations

import json

import pytest
from psycopg import sql
from typer.testing import CliRunner

from kho.catalog import catalog
from kho.cli import app
from kho.conforming.match_report import match_report, matched_columns
from kho.landing.names import match_key

pytest_plugins = ["tests.integration.conftest_samples"]


@pytest.fixture(scope="module")
def report(sample_warehouse):
    return {(r.dataset, r.column): r for r in match_report(s=sample_warehouse)}


def test_every_commune_column_of_the_catalog_is_reported(report):
    assert set(report) == {(ds.id, column) for ds, column in matched_columns()}
    assert {ds for ds, _ in report} == {
        "admin_procedures",
        "crop_production_commune",
        "digital_infrastructure",
        "dti_scores",
        "organic_zones",
        "tourist_sites",
    }


def test_counts_add_up_to_the_rows_delivered(report, warehouse):
    for (dataset_id, column), r in report.items():
        ds = catalog().dataset(dataset_id)
        raw = sql.Identifier(ds.raw_schema, ds.raw_table)
        landed, landed_keys = warehouse.execute(
            sql.SQL("select count(*), array_agg(distinct {}) from {} where {} <> ''").format(
                sql.Identifier(f"{column}_key"), raw, sql.Identifier(column)
            )
        ).fetchone()
        reasons = [
            reason
            for (reason,) in warehouse.execute(
                "select reason from kho_meta.quarantine where dataset = %s and column_name = %s"
                " and reason like 'unknown commune name %%'",
                [dataset_id, column],
            )
        ]
        where = f"{dataset_id}.{column}"
        assert r.matched + r.ambiguous + r.split + r.unknown == r.delivered_rows, where
        assert r.delivered_rows == landed + len(reasons), where
        assert r.unknown_quarantined == len(reasons), where
        quarantined_keys = {match_key(n.name) for n in r.unmatched_names if n.status == "quarantined"}
        assert r.delivered_names == len(set(landed_keys or []) | quarantined_keys), where
        assert r.match_rate == round(100 * r.matched / r.delivered_rows, 1), where


def test_the_samples_match_rates(report):
    """What the sample deliveries hold: one unknown name quarantined, two names two communes of the province
    share exactly (same unit type, same accents), the rest matched, including the names whose key two units
    share but which the name as written tells apart ("Xã Vinh Quang" is not "Thị trấn Vinh Quang")."""
    counts = {
        key: (r.delivered_rows, r.matched, r.ambiguous, r.split, r.unknown_landed, r.unknown_quarantined)
        for key, r in report.items()
    }
    assert counts[("crop_production_commune", "commune_name")][5] == 1
    assert [n.name for n in report[("crop_production_commune", "commune_name")].unmatched_names] == [
        "Xã Bạch Sa"
    ]
    assert [(n.name, n.status) for n in report[("dti_scores", "commune_name")].unmatched_names] == [
        ("Xã Tân Thành", "ambiguous"),
        ("Xã Tân Tiến", "ambiguous"),
    ]
    for key in [
        ("admin_procedures", "commune_name"),
        ("digital_infrastructure", "commune_name"),
        ("organic_zones", "commune_name"),
        ("tourist_sites", "commune"),
    ]:
        assert report[key].match_rate == 100.0, counts[key]


def test_the_intermediate_models_count_the_same(report, warehouse):
    """The names models and each dataset's own intermediate model resolve a name alike."""

    def statuses(query: str) -> dict:
        return dict(warehouse.execute(query).fetchall())

    def counted(dataset_id: str, column: str = "commune_name") -> dict:
        r = report[(dataset_id, column)]
        got = {"matched": r.matched, "ambiguous": r.ambiguous, "split": r.split, "unknown": r.unknown_landed}
        return {status: n for status, n in got.items() if n}

    assert counted("admin_procedures") == statuses(
        "select match_status, count(*) from intermediate.int_admin_procedures__resolved"
        " where commune_name is not null group by 1"
    )
    assert counted("digital_infrastructure") == statuses(
        "select match_status, sum(operator_rows) from intermediate.int_digital_infrastructure__resolved group by 1"
    )
    assert counted("dti_scores") == statuses(
        "select match_status, count(*) from intermediate.int_dti_scores__resolved"
        " where commune_name is not null group by 1"
    )
    assert counted("crop_production_commune") == statuses(
        "select match_status, count(distinct (load_id, report_sheet, source_row))"
        " from intermediate.int_crop_production_commune__matched group by 1"
    )
    assert counted("tourist_sites", "commune") == statuses(
        "select case when commune_code is null then 'unknown' else 'matched' end, count(*)"
        " from intermediate.int_tourist_sites__matched group by 1"
    )


def test_the_command_prints_the_same_as_json(report, sample_warehouse):
    result = CliRunner().invoke(app, ["match-report", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [r.as_dict() for r in report.values()]
    one = CliRunner().invoke(app, ["match-report", "dti_scores"])
    assert one.exit_code == 0 and "dti_scores" in one.output and "admin_procedures" not in one.output
    assert CliRunner().invoke(app, ["match-report", "crop_statistics"]).exit_code == 2  # no commune names
