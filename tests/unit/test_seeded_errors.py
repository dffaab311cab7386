"""The seeded-error evaluation's errors (bench/seeded_errors.py) are what they say: each changes the clean
delivery in the one place its description names, and only there, and the delivery written back (CSV, XLSX,
JSON Lines) reads as it was. No database needed."""

from __future__ import annotations

import json
import random

import pytest

from bench.seeded_errors import (
    KINDS,
    TARGETS,
    Outcome,
    Table,
    _number,
    clean_delivery,
    merge,
    read_table,
    seed,
    write_table,
)

FILE_TARGETS = [t for t in TARGETS if t.source == "samples"]  # the portal's extract needs its database


@pytest.fixture
def delivery(tmp_path):
    def make(target):
        path = clean_delivery(target, tmp_path, s=None)
        return path, read_table(target, path)

    return make


@pytest.mark.parametrize("target", FILE_TARGETS, ids=lambda t: t.file)
def test_every_kind_seeds_one_error(target, delivery, tmp_path):
    path, clean = delivery(target)
    # written back unchanged, a delivery reads as it was
    again = tmp_path / f"again_{target.file}"
    write_table(target, path, clean, again)
    assert read_table(target, again).rows == clean.rows
    made = 0
    for kind in target.kinds or KINDS:
        variant = seed(target, clean, kind, random.Random(7))
        if variant is None:
            continue
        made += 1
        out = tmp_path / f"{made}_{target.file}"
        write_table(
            target,
            path,
            Table(variant.header, variant.rows, clean.head, clean.bom, clean.original),
            out,
            variant.sheet,
        )
        if variant.sheet is not None:  # the month's sheet named for the month before, its rows unchanged
            assert variant.rows == clean.rows
            continue
        rows = read_table(target, out).rows
        assert variant.header == clean.header
        if kind in {"total row left in", "duplicate key, other value"}:
            assert len(rows) == len(clean.rows) + 1, kind
            continue
        changed = [i for i, (a, b) in enumerate(zip(clean.rows, rows, strict=True)) if a != b]
        assert len(rows) == len(clean.rows) and len(changed) == 1, (kind, changed)
        if kind.startswith("unit x"):
            (i,) = changed
            (c,) = [c for c in range(len(clean.header)) if clean.rows[i][c] != rows[i][c]]
            factor = int(kind.split("x")[1])
            old, new = _number(clean.rows[i][c], target.decimal), _number(rows[i][c], target.decimal)
            assert new == pytest.approx(old * factor)
    assert made >= len(target.kinds or KINDS) - 1, "a target file must take almost every kind of error"


def test_the_incident_is_among_the_seeded_errors(delivery):
    """950 for 95.0 q/ha: the decimal separator lost."""
    target = next(t for t in TARGETS if t.file == "yield_maize.csv")
    _, clean = delivery(target)
    variant = seed(target, clean, "decimal comma as thousands", random.Random(1))
    old, new = variant.detail.split(": ")[1].split(" -> ")
    assert float(new) == float(old) * 10 and "." not in new


def test_vietnamese_numbers_keep_their_separators(delivery):
    """In a workbook written the Vietnamese way (1.179,9), a slip keeps the delivery's way of writing numbers."""
    target = next(t for t in TARGETS if t.dataset == "crop_production_commune")
    _, clean = delivery(target)
    variant = seed(target, clean, "unit x10", random.Random(3))
    old, new = variant.detail.split(": ")[1].split(" -> ")
    assert _number(new, ",") == pytest.approx(_number(old, ",") * 10)
    assert "." not in new.split(",")[-1]  # no decimal point where a decimal comma belongs


def test_a_variant_that_landed_as_the_clean_delivery_did_not_get_past_landing():
    """A total row past the footer pattern, or 2,002 read as 2002 households: the same rows landed, so the error
    is kept out (stopped at landing), not missed; other rows landed and nothing said is a miss."""
    clean = Outcome(landed="abc", quarantined=1)
    verdict, how = Outcome(landed="abc", quarantined=1).against(clean)
    assert verdict == "critical" and "did not get past landing" in how[0]
    assert Outcome(landed="abd", quarantined=1).against(clean) == ("ok", [])
    assert Outcome(landed=None).against(Outcome(landed=None)) == ("ok", [])  # refused: nothing to compare


def test_merge_replaces_only_the_datasets_run(tmp_path):
    def verdict(dataset, file, kind):
        return {"dataset": dataset, "file": file, "kind": kind, "detail": "", "outcome": "missed", "how": []}

    into, new = tmp_path / "all.json", tmp_path / "new.json"
    into.write_text(
        json.dumps(
            [
                verdict("dti_scores", "chi_so_dti_2024.csv", "old"),
                verdict("crop_statistics", "yield_maize.csv", "kept"),
            ]
        ),
        encoding="utf-8",
    )
    new.write_text(json.dumps([verdict("dti_scores", "chi_so_dti_2024.csv", "new")]), encoding="utf-8")
    merge(new, into, {"dti_scores"})
    assert [v["kind"] for v in json.loads(into.read_text(encoding="utf-8"))] == [
        "kept",
        "new",
    ]  # targets' order
    assert not new.exists()
