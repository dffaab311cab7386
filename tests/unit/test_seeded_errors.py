"""The seeded-error evaluation's errors (bench/seeded_errors.py) are what they say: each changes the clean
delivery in the one place its description names, and only there. No database needed."""

from __future__ import annotations

import random

import pytest

from bench.seeded_errors import KINDS, REPO, TARGETS, _split, seed


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.file)
def test_every_kind_seeds_one_error(target):
    clean = (REPO / "samples" / target.dataset / target.file).read_text(encoding="utf-8-sig")
    _, header, rows = _split(target, clean)
    made = 0
    for kind in KINDS:
        variant = seed(target, clean, kind, random.Random(7))
        if variant is None:
            continue
        made += 1
        _, new_header, new_rows = _split(target, variant.text)
        assert new_header == header
        if kind in {"total row left in", "duplicate key, other value"}:
            assert len(new_rows) == len(rows) + 1, kind
            continue
        changed = [i for i, (a, b) in enumerate(zip(rows, new_rows, strict=True)) if a != b]
        assert len(new_rows) == len(rows) and len(changed) == 1, (kind, changed)
        if kind.startswith("unit x"):
            (i,) = changed
            (c,) = [c for c in range(len(header)) if rows[i][c] != new_rows[i][c]]
            factor = int(kind.split("x")[1])
            assert float(new_rows[i][c]) == pytest.approx(float(rows[i][c]) * factor)
    assert made >= len(KINDS) - 1, "a target file must take almost every kind of error"


def test_the_incident_is_among_the_seeded_errors():
    """950 for 95.0 q/ha: the decimal separator lost."""
    target = next(t for t in TARGETS if t.file == "yield_maize.csv")
    clean = (REPO / "samples" / target.dataset / target.file).read_text(encoding="utf-8-sig")
    variant = seed(target, clean, "decimal comma as thousands", random.Random(1))
    old, new = variant.detail.split(": ")[1].split(" -> ")
    assert float(new) == float(old) * 10 and "." not in new
