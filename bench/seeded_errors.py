"""How many realistic errors does the quality gate catch? ``python -m bench.seeded_errors`` (``make bench-gate``).

Each dataset's clean sample deliveries (``samples/<dataset>/``) get one seeded error at a time (a unit slip, a
transposed digit, two columns swapped, ...), and each variant goes the real way: ``land_file`` into the raw
table, the raw suite on its load, ``dbt run`` of the published mart, the mart suite. One error per variant, so
the verdict is the error's own: stopped (a critical finding, a refused delivery or a failed dbt build), flagged
(a warning that the clean delivery does not raise), or missed. The clean deliveries themselves go the same way,
to count false alarms. Between variants the variant's load is deleted again, so every variant is judged against
the same warehouse: every other sample delivery of the dataset landed, the target file's figures absent (the
variant is a first delivery of those figures, so the revision check does not apply; see README.md).

It uses the services of ``KHO_HOME`` / ``KHO_PORT_BASE`` and rewrites the dataset's raw table: run it on a
state of its own (``make bench-gate`` uses ``.kho/bench-gate``), never on the demo's.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "seeded_errors.json"
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")

KINDS = (
    "unit x10",
    "unit x100",
    "unit x1000",
    "unit /10",
    "transposed digits",
    "dropped digit",
    "columns swapped",
    "row copied onto another area",
    "period shifted",
    "total row left in",
    "duplicate key, other value",
    "decimal comma as thousands",
)


@dataclass(frozen=True)
class Target:
    """One sample delivery the errors are seeded into, and how to read its table."""

    dataset: str
    file: str
    delimiter: str
    header_line: int  # 0-based line of the column header (PX-Web has a title and a blank line first)
    area_column: int  # the column naming the area (province, commune, agency)
    value_columns: tuple[int, ...]  # numeric measures an error may hit
    period_column: int | None = None  # year or quarter column, if rows carry one
    also_area: tuple[int, ...] = ()  # further columns naming the area (DTI: agency or commune)


TARGETS = (
    Target("crop_statistics", "yield_maize.csv", ";", 2, 0, tuple(range(1, 23))),
    Target("crop_statistics", "production_paddy.csv", ";", 2, 0, tuple(range(1, 23))),
    Target("crop_statistics", "planted_area_spring_paddy.csv", ";", 2, 0, tuple(range(1, 23))),
    Target(
        "digital_infrastructure",
        "ha_tang_vien_thong_2025_q3.csv",
        ",",
        0,
        2,
        (4, 5, 6, 7, 8),
        period_column=1,
    ),
    Target("dti_scores", "chi_so_dti_2024.csv", ",", 0, 3, (4, 5, 6, 7, 8), period_column=1, also_area=(2,)),
)


@dataclass
class Variant:
    target: Target
    kind: str
    detail: str
    text: str


@dataclass
class Verdict:
    dataset: str
    file: str
    kind: str
    detail: str
    outcome: str  # stopped | flagged | missed | clean-ok | clean-warning | clean-critical
    how: list[str] = field(default_factory=list)


# --- seeding errors into a delivery's text ------------------------------------------------------


def _split(target: Target, text: str) -> tuple[str, list[str], list[list[str]]]:
    """(the lines before the header, kept as they are; the header; the rows) of a delivery."""
    lines = text.splitlines(keepends=True)
    head = "".join(lines[: target.header_line])
    rows = list(csv.reader(io.StringIO("".join(lines[target.header_line :])), delimiter=target.delimiter))
    return head, rows[0], [r for r in rows[1:]]


def _join(target: Target, head: str, header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=target.delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return head + out.getvalue()


def _numeric_cells(target: Target, rows: list[list[str]], rng: random.Random, need_digits: int = 1):
    """Candidate (row, column) cells holding a number with at least ``need_digits`` digits, in random order."""
    cells = [
        (i, c)
        for i, row in enumerate(rows)
        # PX-Web marks national and regional rows with a leading space: not published, left alone
        if len(row) > max(target.value_columns) and not row[target.area_column].startswith(" ")
        for c in target.value_columns
        if NUMBER.match(row[c].strip())
        and sum(ch.isdigit() for ch in row[c]) >= need_digits
        and float(row[c]) != 0
    ]
    rng.shuffle(cells)
    return cells


def _name(target: Target, row: list[str]) -> str:
    return " ".join(row[c].strip() for c in (*target.also_area, target.area_column) if row[c].strip())


def _scale(value: str, factor: float) -> str:
    decimals = len(value.split(".")[1]) if "." in value else 0
    scaled = float(value) * factor
    return f"{scaled:.{decimals}f}" if decimals else str(round(scaled))


def seed(target: Target, clean: str, kind: str, rng: random.Random) -> Variant | None:
    """The clean delivery with one error of ``kind`` seeded at a random place; None if it has no such place."""
    head, header, rows = _split(target, clean)
    rows = [list(r) for r in rows]
    area = target.area_column

    def cell_change(transform, need_digits=1, want=lambda old, new: new != old):
        for i, c in _numeric_cells(target, rows, rng, need_digits):
            old = rows[i][c].strip()
            new = transform(old)
            if new is not None and want(old, new):
                rows[i][c] = new
                return f"{_name(target, rows[i])} / {header[c].strip()}: {old} -> {new}"
        return None

    detail = None
    if kind.startswith("unit "):
        factor = {"x10": 10, "x100": 100, "x1000": 1000, "/10": 0.1}[kind.split()[1]]
        detail = cell_change(lambda v: _scale(v, factor))
    elif kind == "transposed digits":

        def transpose(v: str) -> str | None:
            spots = [
                j for j in range(len(v) - 1) if v[j].isdigit() and v[j + 1].isdigit() and v[j] != v[j + 1]
            ]
            if not spots:
                return None
            j = rng.choice(spots)
            return v[:j] + v[j + 1] + v[j] + v[j + 2 :]

        detail = cell_change(transpose, need_digits=2)
    elif kind == "dropped digit":

        def drop(v: str) -> str | None:
            spots = [j for j, ch in enumerate(v) if ch.isdigit()]
            j = rng.choice(spots)
            new = v[:j] + v[j + 1 :]
            return new if NUMBER.match(new) and not new.startswith(".") else None

        detail = cell_change(drop, need_digits=2)
    elif kind == "decimal comma as thousands":
        # 95,0 read as 950: the decimal separator taken for a thousands separator and dropped; in a column of
        # whole numbers the reverse, 10.599 households read as 10.599.
        def misread(v: str) -> str | None:
            if "." in v:
                return v.replace(".", "").lstrip("0") or None
            return f"{v[:-3]}.{v[-3:]}" if len(v) >= 4 else None

        detail = cell_change(misread, want=lambda old, new: float(new) != float(old))
    elif kind == "columns swapped":
        for i, _ in _numeric_cells(target, rows, rng):
            a, b = rng.sample(target.value_columns, 2)
            if rows[i][a].strip() != rows[i][b].strip() and NUMBER.match(rows[i][b].strip()):
                rows[i][a], rows[i][b] = rows[i][b], rows[i][a]
                detail = f"{_name(target, rows[i])}: {header[a].strip()} <-> {header[b].strip()}"
                break
    elif kind == "row copied onto another area":
        eligible = [i for i, _ in _numeric_cells(target, rows, rng)]
        if len(set(eligible)) >= 2:
            src, dst = rng.sample(sorted(set(eligible)), 2)
            keep = {area, *target.also_area} | (
                {target.period_column} if target.period_column is not None else set()
            )
            if all(rows[src][c] == rows[dst][c] for c in target.value_columns):
                return None
            rows[dst] = [rows[dst][c] if c in keep else rows[src][c] for c in range(len(rows[src]))]
            detail = f"{_name(target, rows[src])} copied onto {_name(target, rows[dst])}"
    elif kind == "period shifted":
        if target.period_column is not None:
            i = rng.choice([i for i, _ in _numeric_cells(target, rows, rng)])
            old = rows[i][target.period_column]
            rows[i][target.period_column] = str(int(old) - 1)
            detail = f"{_name(target, rows[i])}: {header[target.period_column]} {old} -> {int(old) - 1}"
        else:  # a row of a year-by-column table slid one year to the right
            i = rng.choice([i for i, _ in _numeric_cells(target, rows, rng)])
            cols = list(target.value_columns)
            values = [rows[i][c] for c in cols]
            for c, v in zip(cols[1:], values[:-1], strict=True):
                rows[i][c] = v
            rows[i][cols[0]] = ".."
            detail = f"{_name(target, rows[i])}: every year's figure under the next year"
    elif kind == "total row left in":
        total = list(next(r for r in reversed(rows) if len(r) == len(header)))
        for c in target.value_columns:
            numbers = [
                float(r[c])
                for r in rows
                if len(r) > c and NUMBER.match(r[c].strip()) and not r[area].startswith(" ")
            ]
            if numbers:
                total[c] = str(int(sum(numbers))) if sum(numbers).is_integer() else f"{sum(numbers):.4f}"
        total[area] = "Tổng cộng" if target.dataset != "crop_statistics" else " Total"
        for c in range(len(total)):
            if c not in target.value_columns and c not in {area, target.period_column, *target.also_area}:
                total[c] = ""
        rows.append(total)
        detail = "a total row appended"
    elif kind == "duplicate key, other value":
        for i, c in _numeric_cells(target, rows, rng, need_digits=2):
            copy = list(rows[i])
            copy[c] = _scale(copy[c], 1.1)
            if copy[c] != rows[i][c]:
                rows.insert(i + 1, copy)
                detail = f"{_name(target, rows[i])} delivered twice, {header[c].strip()} {rows[i][c]} and {copy[c]}"
                break
    if detail is None:
        return None
    return Variant(target, kind, detail, _join(target, head, header, rows))


# --- running a variant the real way --------------------------------------------------------------


def _reset(dataset: str, s) -> None:
    """Empty the dataset's raw table and its bookkeeping (the evaluation's own state only)."""
    import psycopg

    from kho.catalog import catalog

    ds = catalog().dataset(dataset)
    with psycopg.connect(s.warehouse_url) as conn:
        exists = conn.execute("select to_regclass(%s)", [f"{ds.raw_schema}.{ds.raw_table}"]).fetchone()[0]
        if exists:
            conn.execute(f"truncate {ds.raw_schema}.{ds.raw_table}")  # noqa: S608 - names from the catalog
        for table in ("loads", "quarantine", "quality_runs"):
            conn.execute(f"delete from kho_meta.{table} where dataset = %s", [dataset])  # noqa: S608


def _forget(dataset: str, load_id: str | None, s) -> None:
    """Delete one variant's load again, so the next variant meets the same warehouse."""
    import psycopg

    from kho.catalog import catalog

    if load_id is None:
        return
    ds = catalog().dataset(dataset)
    with psycopg.connect(s.warehouse_url) as conn:
        conn.execute(f"delete from {ds.raw_schema}.{ds.raw_table} where _load_id = %s", [load_id])  # noqa: S608
        conn.execute("delete from kho_meta.loads where load_id = %s", [load_id])
        conn.execute("delete from kho_meta.quarantine where load_id = %s", [load_id])


class Dbt:
    """``dbt run`` through one long-lived dbt process (``bench/dbt_worker.py``) in Kho's dbt environment."""

    def __init__(self, s) -> None:
        import os
        import subprocess

        from kho.conforming.dbt import dbt_env, project_dir

        python = Path(s.venv_bin("dbt", "dbt")).parent / "python"
        self.process = subprocess.Popen(
            # -P: bench/ must not be on the path, dbt imports every module named dbt_* it finds there
            [str(python), "-P", str(Path(__file__).with_name("dbt_worker.py"))],
            cwd=project_dir(s),
            env={**os.environ, **dbt_env(s)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str) -> tuple[bool, str]:
        self.process.stdin.write(json.dumps(list(args)) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        return answer["ok"], answer["log"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def judge(
    dataset: str, path: Path, s, baseline: set[str] | None, dbt: Dbt
) -> tuple[str, list[str], set[str]]:
    """Land ``path``, run the raw suite, dbt and the mart suite: (critical | warning | ok, what said so, the
    warnings raised). Warnings already raised by the clean delivery (``baseline``) do not count."""
    from kho.errors import KhoError
    from kho.landing.land import land_file
    from kho.validating.quality import validate

    try:
        report = land_file(dataset, path, s=s)
    except KhoError as exc:
        return "critical", [f"refused at landing: {str(exc).splitlines()[0][:160]}"], set()
    how: list[str] = []
    warned: set[str] = set()
    try:
        if report.rows_quarantined:
            how.append(f"{report.rows_quarantined} row(s) quarantined at landing")
        raw = validate(dataset, "raw", load_id=report.load_id, s=s)
        how += [f"raw: {f.summary}" for f in raw.critical_failures]
        warned |= {f"raw: {f.expectation}({f.column}; {f.kwargs})" for f in raw.warnings}
        if raw.success:
            from kho.catalog import catalog

            model = catalog().dataset(dataset).publish.model
            ok, _ = dbt.run("run", "--quiet", "--select", model)
            if not ok:
                how.append(f"dbt run {model} failed")
            else:
                mart = validate(dataset, "mart", s=s)
                how += [f"mart: {f.summary}" for f in mart.critical_failures]
                warned |= {f"mart: {f.expectation}({f.column}; {f.kwargs})" for f in mart.warnings}
    finally:
        _forget(dataset, report.load_id, s)
    if how and not all("quarantined" in h for h in how):
        return "critical", how, warned
    new_warnings = warned - (baseline or set())
    if report.rows_quarantined:
        return "critical", how, warned  # the erroneous row was kept out of the warehouse
    if new_warnings:
        return "warning", sorted(new_warnings), warned
    return "ok", [], warned


def evaluate(
    per_kind: int,
    seed_value: int,
    s,
    log=print,
    targets: tuple[Target, ...] = TARGETS,
    out: Path | None = None,
) -> list[Verdict]:
    from kho.landing.land import land_file

    rng = random.Random(seed_value)
    verdicts: list[Verdict] = []
    work = Path(tempfile.mkdtemp(prefix="kho-seeded-"))
    dbt = Dbt(s)

    def keep(verdict: Verdict) -> None:
        verdicts.append(verdict)
        log(
            f"{verdict.dataset}/{verdict.file}: {verdict.kind}: {verdict.detail} -> {verdict.outcome} {verdict.how[:2]}"
        )
        if out is not None:  # written as it goes: a long run interrupted still tells what it measured
            out.write_text(json.dumps([v.__dict__ for v in verdicts], ensure_ascii=False, indent=1) + "\n")

    try:
        _evaluate(per_kind, rng, s, targets, work, dbt, land_file, keep)
    finally:
        dbt.close()
    return verdicts


def _evaluate(per_kind, rng, s, targets, work, dbt, land_file, keep) -> None:
    for target in targets:
        samples = REPO / "samples" / target.dataset
        _reset(target.dataset, s)
        for other in sorted(samples.iterdir()):
            if other.name != target.file and other.is_file():
                land_file(target.dataset, other, s=s)
        ok, output = dbt.run("run", "--quiet", "--select", "+" + _model(target.dataset))
        if not ok:
            raise SystemExit(f"dbt could not build {target.dataset}'s mart:\n{output}")
        clean_path = samples / target.file
        verdict, how, baseline = judge(target.dataset, clean_path, s, None, dbt)
        outcome = {"critical": "clean-critical", "warning": "clean-warning", "ok": "clean-ok"}[verdict]
        keep(Verdict(target.dataset, target.file, "clean", "the sample as delivered", outcome, how))
        clean = clean_path.read_text(encoding="utf-8-sig")
        bom = "\ufeff" if clean_path.read_bytes().startswith(b"\xef\xbb\xbf") else ""
        for kind in KINDS:
            made = 0
            for attempt in range(per_kind * 4):
                if made == per_kind:
                    break
                variant = seed(target, clean, kind, rng)
                if variant is None:
                    continue
                made += 1
                path = work / f"{attempt}_{target.file}"
                path.write_text(bom + variant.text, encoding="utf-8")
                verdict, how, _ = judge(target.dataset, path, s, baseline, dbt)
                outcome = {"critical": "stopped", "warning": "flagged", "ok": "missed"}[verdict]
                keep(Verdict(target.dataset, target.file, kind, variant.detail, outcome, how[:3]))


def _model(dataset: str) -> str:
    from kho.catalog import catalog

    return catalog().dataset(dataset).publish.model


def table(verdicts: list[Verdict]) -> str:
    """The README's table: per kind of error, seeded / stopped / flagged / missed."""
    seeded = [v for v in verdicts if v.kind != "clean"]
    counts = Counter((v.kind, v.outcome) for v in seeded)
    lines = ["| seeded error | seeded | stopped | flagged | missed |", "|---|---|---|---|---|"]
    for kind in KINDS:
        n = sum(counts[(kind, o)] for o in ("stopped", "flagged", "missed"))
        if n:
            lines.append(
                f"| {kind} | {n} | {counts[(kind, 'stopped')]} | {counts[(kind, 'flagged')]} | {counts[(kind, 'missed')]} |"
            )
    total = Counter(v.outcome for v in seeded)
    n = len(seeded)
    lines.append(
        f"| **all** | **{n}** | **{total['stopped']}** | **{total['flagged']}** | **{total['missed']}** |"
    )
    clean = Counter(v.outcome for v in verdicts if v.kind == "clean")
    caught = (total["stopped"] + total["flagged"]) / n if n else 0
    lines.append("")
    lines.append(
        f"Stopped or flagged: {caught:.0%}. Clean deliveries: {sum(clean.values())}, "
        f"critical false alarms {clean['clean-critical']}, with warnings {clean['clean-warning']}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.seeded_errors", description=__doc__.split("\n\n")[0])
    p.add_argument("--per-kind", type=int, default=4, help="errors of each kind per target file (default 4)")
    p.add_argument("--seed", type=int, default=20260, help="random seed (default 20260)")
    p.add_argument("--out", type=Path, default=RESULTS, help=f"verdicts as JSON (default {RESULTS})")
    p.add_argument("--dataset", action="append", help="only these datasets (repeatable)")
    p.add_argument("--table", action="store_true", help="print the table of the verdicts in --out and stop")
    opts = p.parse_args(argv)
    if not opts.table:
        from kho.settings import settings

        targets = tuple(t for t in TARGETS if not opts.dataset or t.dataset in opts.dataset)
        evaluate(opts.per_kind, opts.seed, settings(), targets=targets, out=opts.out)
    verdicts = [Verdict(**v) for v in json.loads(opts.out.read_text(encoding="utf-8"))]
    print(table(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
