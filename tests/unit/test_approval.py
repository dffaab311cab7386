"""A data steward approves what the rules cannot decide: the catalog's ``publish.approval``, when a delivery
waits for a steward (warnings or revisions beyond the threshold, on a steward dataset only), what the
steward is shown, and how an approval reads in the published provenance."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from kho.catalog import CatalogError, catalog, load_catalog
from kho.settings import REPO
from kho.validating.approval import Review, merge_revisions
from publishers.metadata import Load, Provenance

ENTRY = (
    "id: prices\nagency: alpha\ntitle_vi: t\ntitle_en: t\ndescription_vi: d\ndescription_en: d\n"
    "classification: open\nlicence: cc-by-4.0\nupdate_frequency: yearly\n"
    "source: {kind: inbox, format: csv}\n"
    "columns: [{name: amount, type: numeric}]\n"
)


def write(tmp_path, publish: str) -> None:
    (tmp_path / "agencies.yml").write_text("agencies: [{id: alpha, name_vi: a, name_en: a}]\n")
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpha" / "prices.yml").write_text(ENTRY + publish)


def test_publishing_is_automatic_unless_the_catalog_asks_for_a_steward(tmp_path):
    write(tmp_path, "publish: {model: fct_prices}\n")
    assert load_catalog(tmp_path).dataset("prices").publish.approval == "automatic"


def test_a_steward_dataset(tmp_path):
    write(tmp_path, "publish: {model: fct_prices, approval: steward}\n")
    assert load_catalog(tmp_path).dataset("prices").publish.approval == "steward"


def test_an_unknown_approval_is_a_catalog_error_naming_the_field(tmp_path):
    write(tmp_path, "publish: {model: fct_prices, approval: manager}\n")
    with pytest.raises(
        CatalogError, match=r"field 'publish.approval': Input should be 'automatic' or 'steward'"
    ):
        load_catalog(tmp_path)


def test_the_demos_steward_dataset():
    """`make demo` finishes on its own: its one steward dataset's samples raise no warning (the end-to-end
    tests see its first run publish without waiting, tests/e2e/test_approval.py)."""
    stewarded = {d.id for d in catalog().datasets.values() if d.publish and d.publish.approval == "steward"}
    assert stewarded == {"dti_scores"}


WARNING = {
    "layer": "mart",
    "summary": "expect_column_values_to_be_between(price): 2 unexpected",
    "why": "a band",
}
REVISED = {
    "revised": 3,
    "beyond_threshold": 1,
    "warn_above": 0.05,
    "largest": [{"key": ["maize", "2020"], "column": "value", "previous": "10", "new": "12", "change": 0.2}],
}


@pytest.mark.parametrize(
    ("review", "waits"),
    [
        (Review("d", "automatic", ["l1"], [WARNING], REVISED), False),  # automatic: never waits
        (Review("d", "steward", [], [WARNING]), False),  # no new delivery
        (Review("d", "steward", ["l1"]), False),  # nothing found
        (Review("d", "steward", ["l1"], [WARNING]), True),
        (Review("d", "steward", ["l1"], [], REVISED), True),  # a revision beyond the threshold
        (Review("d", "steward", ["l1"], [], {**REVISED, "beyond_threshold": 0}), False),  # small revisions
        (Review("d", "steward", ["l1"], [WARNING], REVISED, ["mart: key missing"]), False),  # the gate blocks
    ],
)
def test_when_a_delivery_waits_for_a_steward(review, waits):
    assert review.needs_approval is waits


def test_the_steward_sees_the_findings_and_the_largest_revisions_vietnamese_first():
    body = Review("material_prices", "steward", ["l1", "l2"], [WARNING], REVISED).body()
    assert "`l1`, `l2`" in body
    assert "- mart: expect_column_values_to_be_between(price): 2 unexpected (a band)" in body
    assert "| maize, 2020 | value | 10 | 12 | +20% |" in body
    assert "3 số liệu bị sửa, 1 số liệu thay đổi quá 5% / 3 figures revised, 1 by more than 5%" in body
    assert body.index("Cảnh báo") < body.index("Findings")
    subject = Review("material_prices", "steward", ["l1"], [WARNING]).subject()
    assert subject.index("duyệt công bố") < subject.index("approve publishing")


def test_revisions_of_several_deliveries_add_up_and_keep_the_largest():
    small = {**REVISED, "largest": [{**REVISED["largest"][0], "change": -0.1}]}
    withdrawn = {**REVISED, "largest": [{**REVISED["largest"][0], "new": "None", "change": None}]}
    merged = merge_revisions([small, REVISED, withdrawn])
    assert (merged["revised"], merged["beyond_threshold"]) == (9, 3)
    assert [r["change"] for r in merged["largest"]] == [None, 0.2, -0.1]  # withdrawn first, then by size
    assert merge_revisions([]) is None


def test_the_published_provenance_names_who_approved_a_delivery_and_when():
    landed = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    approved = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    provenance = Provenance(
        "marts.fct_prices",
        [Load("l1", landed), Load("l2", landed, "steward_hoa", approved)],
        landed,
    )
    lines = provenance.text().splitlines()
    assert lines[-2:] == [
        "- l1: 2026-03-01",
        "- l2: 2026-03-01 (duyệt bởi / approved by steward_hoa, 2026-03-02T09:30:00+00:00)",
    ]
    assert '"approved_by": "steward_hoa"' in provenance.as_json()


@pytest.fixture
def steward_dags(tmp_path):
    """The warehouse DAGs (dti_scores asks for a steward)."""
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path / "airflow"))  # not the user's ~/airflow
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "kho_warehouse.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def test_a_steward_datasets_publication_waits_behind_the_approval_task(steward_dags):
    tasks = {t.task_id: t for t in steward_dags["warehouse__dti_scores"].tasks}
    approval = tasks["steward_approval"]
    assert approval.upstream_task_ids == {"validate_mart"}
    assert tasks["publish"].upstream_task_ids == {"validate_mart", "steward_approval"}
    assert approval.retries == 0 and approval.execution_timeout and approval.response_timeout
    assert "steward_approval" not in {t.task_id for t in steward_dags["warehouse__material_prices"].tasks}
