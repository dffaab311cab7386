"""Every suite file under expectations/ is one a reviewer can trust: it parses, names real Great Expectations
expectation types with arguments GX accepts, and gives each a severity and a reason. No database needed."""

from __future__ import annotations

import pytest

from kho.catalog import catalog
from kho.validating.quality import (
    SEVERITIES,
    Finding,
    QualityError,
    QualityResult,
    build_suite,
    expectation_class,
    format_result,
    read_suite_file,
    run_parameters,
    suite_files,
)

SUITES = suite_files()


def _id(path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_there_are_suites():
    assert SUITES, "no suite files found under expectations/"


@pytest.mark.parametrize("path", SUITES, ids=_id)
def test_suite_belongs_to_a_catalog_dataset(path):
    dataset = catalog().dataset(path.parent.name)
    if path.stem == "mart":
        assert dataset.publish is not None, f"{path}: a mart suite for a dataset that publishes no model"


@pytest.mark.parametrize("path", SUITES, ids=_id)
def test_every_entry_is_a_gx_expectation_with_severity_and_reason(path):
    import great_expectations.expectations as gxe

    for entry in read_suite_file(path):
        assert issubclass(expectation_class(entry.expectation), gxe.Expectation)
        assert entry.severity in SEVERITIES
        assert len(entry.why) > 10, f"{path}: {entry.expectation}: say why in a sentence"


@pytest.mark.parametrize("path", SUITES, ids=_id)
def test_gx_accepts_the_kwargs_and_keeps_severity(path):
    suite = build_suite(path.parent.name, path.stem, path)
    entries = read_suite_file(path)
    assert len(suite.expectations) == len(entries)
    for expectation, entry in zip(suite.expectations, entries, strict=True):
        assert expectation.severity.value == entry.severity
        assert expectation.meta["why"] == entry.why


def _parameters(value) -> set[str]:
    """Names used as ``{$PARAMETER: name}`` anywhere in a value."""
    if isinstance(value, dict):
        found = {value["$PARAMETER"]} if "$PARAMETER" in value else set()
        return found.union(*(_parameters(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_parameters(v) for v in value))
    return set()


@pytest.mark.parametrize("path", SUITES, ids=_id)
def test_run_time_parameters_are_all_provided(path):
    used = set().union(*(_parameters(entry.kwargs) for entry in read_suite_file(path)))
    assert used <= set(run_parameters()), f"{path}: unknown parameter(s) {used - set(run_parameters())}"


@pytest.mark.parametrize("path", SUITES, ids=_id)
def test_keys_and_nulls_are_critical(path):
    """Severity is a choice, but not for these: a null key or a duplicate row must block publishing."""
    for entry in read_suite_file(path):
        if entry.expectation in {
            "expect_compound_columns_to_be_unique",
            "expect_column_values_to_not_be_null",
        }:
            assert entry.severity == "critical", (
                f"{path}: {entry.expectation}({entry.kwargs}) should be critical"
            )


def test_unknown_expectation_type_is_refused():
    with pytest.raises(QualityError, match="not a Great Expectations expectation type"):
        expectation_class("expect_column_values_to_be_lovely")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{expectation: expect_column_values_to_not_be_null, kwargs: {column: a}, why: x}", "severity"),
        (
            "{expectation: expect_column_values_to_not_be_null, kwargs: {column: a}, severity: fatal, why: x}",
            "severity",
        ),
        (
            "{expectation: expect_column_values_to_not_be_null, kwargs: {column: a}, severity: critical}",
            "why",
        ),
        ("{expectation: not_an_expectation, severity: critical, why: x}", "GX expectation type"),
        (
            "{expectation: expect_column_values_to_not_be_null, kwargs: {column: a}, severity: warning, why: x, "
            "mostly: 0.5}",
            "unknown field",
        ),
    ],
)
def test_malformed_entries_name_the_problem(tmp_path, entry, message):
    path = tmp_path / "mart.yml"
    path.write_text(f"expectations:\n  - {entry}\n", encoding="utf-8")
    with pytest.raises(QualityError, match=message) as err:
        read_suite_file(path)
    assert "expectations[0]" in str(err.value)


def test_invalid_kwargs_are_refused_by_gx(tmp_path):
    path = tmp_path / "mart.yml"
    path.write_text(
        "expectations:\n"
        "  - {expectation: expect_column_values_to_be_between, kwargs: {column: a, mostly: 7},"
        " severity: warning, why: a reason}\n",
        encoding="utf-8",
    )
    with pytest.raises(QualityError, match=r"expectations\[0\] \(expect_column_values_to_be_between\)"):
        build_suite("crop_statistics", "mart", path)


def test_format_result_one_line_per_failure():
    failure = Finding(
        expectation="expect_column_values_to_not_be_null",
        column="province_code",
        kwargs="",
        observed="3 unexpected of 1,240 rows",
        why="Part of the key.",
        severity="critical",
        unexpected_count=3,
        element_count=1240,
    )
    warning = Finding(
        expectation="expect_column_values_to_be_between",
        column="yield_t_per_ha",
        kwargs="min_value=1, max_value=10, where crop == paddy",
        observed="2 unexpected of 96 rows, e.g. 14.2",
        why="Paddy yields.",
        severity="warning",
    )
    result = QualityResult(
        run_id="r",
        dataset="crop_statistics",
        layer="mart",
        load_id=None,
        success=False,
        critical_failures=[failure],
        warnings=[warning],
        statistics={"evaluated_expectations": 21},
    )
    assert format_result(result).splitlines() == [
        "crop_statistics/mart CRITICAL expect_column_values_to_not_be_null(province_code): "
        "3 unexpected of 1,240 rows",
        "crop_statistics/mart WARNING expect_column_values_to_be_between(yield_t_per_ha; "
        "min_value=1, max_value=10, where crop == paddy): 2 unexpected of 96 rows, e.g. 14.2",
    ]
    passed = QualityResult(
        run_id="r",
        dataset="crop_statistics",
        layer="raw",
        load_id="L1",
        success=True,
        statistics={"evaluated_expectations": 25},
    )
    assert format_result(passed) == "crop_statistics/raw load L1 OK: all 25 expectations passed"


def test_a_cross_row_rule_must_select_from_the_batch(tmp_path):
    path = tmp_path / "mart.yml"
    path.write_text(
        "expectations:\n"
        "  - {expectation: unexpected_rows_expectation, kwargs: {unexpected_rows_query: 'select 1 from t'},"
        " severity: critical, why: a reason, source: a source}\n",
        encoding="utf-8",
    )
    with pytest.raises(QualityError, match=r"expectations\[0\].*must select from \{batch\}"):
        read_suite_file(path)


def test_a_cross_row_rule_aliases_the_batch_only_with_a_join(tmp_path):
    """GX aliases {batch} itself ('AS subselect') in a query without a join: a second alias fails at run time."""
    path = tmp_path / "mart.yml"
    entry = (
        "  - {{expectation: unexpected_rows_expectation, kwargs: {{unexpected_rows_query: '{query}'}},"
        " severity: warning, why: a reason, source: a source}}\n"
    )
    alone = "select * from {batch} as b where exists (select 1 from {batch} as o where o.k = b.k)"
    path.write_text("expectations:\n" + entry.format(query=alone), encoding="utf-8")
    with pytest.raises(QualityError, match=r"expectations\[0\].*only in a query with a join"):
        read_suite_file(path)
    joined = "select b.* from {batch} as b inner join {batch} as o on o.k = b.k"
    unaliased = "select * from {batch} where x > 1"
    path.write_text(
        "expectations:\n" + entry.format(query=joined) + entry.format(query=unaliased), encoding="utf-8"
    )
    assert len(read_suite_file(path)) == 2


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{key: [a], values: [v], warn_above: 0, why: x}", "warn_above"),
        ("{key: a, values: [v], warn_above: 0.1, why: x}", "'key' must be a list"),
        ("{key: [a], values: ['v; drop table t'], warn_above: 0.1, why: x}", "'values' must be a list"),
        ("{key: [a], values: [v], warn_above: 0.1}", "why"),
    ],
)
def test_a_malformed_revisions_section_names_the_problem(tmp_path, section, message):
    path = tmp_path / "crop_statistics" / "raw.yml"
    path.parent.mkdir()
    path.write_text(
        "expectations:\n"
        "  - {expectation: expect_table_row_count_to_be_between, kwargs: {min_value: 1},"
        " severity: critical, why: a reason}\n"
        f"revisions: {section}\n",
        encoding="utf-8",
    )
    with pytest.raises(QualityError, match=message):
        read_suite_file(path)


def test_the_revisions_rule_becomes_a_warning_on_the_raw_suite():
    entries = read_suite_file(suite_files()[0].parent.parent / "crop_statistics" / "raw.yml")
    revision = entries[-1]
    assert revision.expectation == "unexpected_rows_expectation" and revision.severity == "warning"
    query = revision.kwargs["unexpected_rows_query"]
    assert "{batch}" in query and "raw_statistics_office.crop_statistics" in query and "0.05" in query


def test_new_rules_name_their_source():
    """Impossible bounds and cross-measure rules are judgements about the world: each says where it comes from."""
    for path in SUITES:
        for entry in read_suite_file(path):
            if entry.expectation == "unexpected_rows_expectation":
                assert entry.source, f"{path}: {entry.kwargs.get('description')}: give its source"
