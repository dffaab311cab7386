"""The seeded-error evaluation's errors (bench/seeded_errors.py) are what they say: each changes the clean
delivery in the one place its description names, and only there, and the delivery written back (CSV, XLSX,
JSON Lines) reads as it was. No database needed."""

from __future__ import annotations

import random

import pytest

from bench.seeded_errors import (
    KINDS,
    TARGETS,
    Table,
    _number,
    clean_delivery,
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
