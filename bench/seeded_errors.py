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
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    delimiter: str  # CSV only; "" for a workbook or JSON Lines
    header_line: int  # 0-based line (row of the sheet) of the column header; the rows after it are data
    area_column: int  # the column naming the area (province, commune, agency, site)
    value_columns: tuple[int, ...]  # numeric measures an error may hit
    period_column: int | None = None  # year, quarter, month or date column, if rows carry one
    also_area: tuple[int, ...] = ()  # further columns naming the row (DTI: agency or commune; a material)
    decimal: str = "."  # the delivery's decimal separator ("," also means "." separates thousands)
    sheet: str | None = None  # a workbook's sheet holding the rows
    kinds: tuple[str, ...] | None = None  # the kinds of error that are realistic here (None: all)
    source: str = "samples"  # "samples": samples/<dataset>/<file>; "portal": fetched from the portal stand-in

    @property
    def fmt(self) -> str:
        return Path(self.file).suffix.lstrip(".")


# Kinds that make no sense for a register of places (a coordinate has no unit to slip) or a price list.
_NO_UNITS = tuple(k for k in KINDS if not k.startswith("unit ") and k != "total row left in")

TARGETS = (
    Target("crop_statistics", "yield_maize.csv", ";", 2, 0, tuple(range(1, 23))),
    Target("crop_statistics", "production_paddy.csv", ";", 2, 0, tuple(range(1, 23))),
    Target("crop_statistics", "planted_area_spring_paddy.csv", ";", 2, 0, tuple(range(1, 23))),
    Target(
        "crop_production_commune",
        "dien_tich_nang_suat_san_luong_2024.xlsx",
        "",
        6,
        1,
        tuple(range(2, 20)),
        decimal=",",
        sheet="Năm 2024",
    ),
    Target(
        "digital_infrastructure",
        "ha_tang_vien_thong_2025_q3.csv",
        ",",
        0,
        2,
        (4, 5, 6, 7, 8),
        period_column=1,
        also_area=(3,),
        decimal=",",  # landing reads 10.599 households as 10599 here: the misread slip is 10599 -> 10,599
    ),
    # the rank (Xếp hạng) is not landed: the mart ranks units by their DTI itself
    Target("dti_scores", "chi_so_dti_2024.csv", ",", 0, 3, (4, 5, 6, 7), period_column=1, also_area=(2,)),
    Target(
        "admin_procedures",
        "admin_procedures.csv",
        ",",
        0,
        1,
        (5, 6, 7, 8, 9, 10),
        period_column=4,
        also_area=(0,),
        source="portal",
    ),
    Target(
        "material_prices",
        "gia_vlxd_T03_2025.xlsx",
        "",
        6,
        5,
        (4,),
        also_area=(1, 2, 3),
        decimal=",",
        sheet="T03-2025",
        kinds=tuple(k for k in KINDS if k not in {"columns swapped", "total row left in"}),
    ),
    Target(
        "organic_zones",
        "vung_huu_co_quy_3_2025.csv",
        ";",
        0,
        3,
        (6,),
        period_column=10,
        also_area=(1,),
        decimal=",",
        kinds=tuple(k for k in KINDS if k != "columns swapped"),
    ),
    Target(
        "tourist_sites",
        "tourist-sites.jsonl",
        "",
        0,
        3,
        (5, 6),
        period_column=8,
        also_area=(0,),
        kinds=_NO_UNITS,
    ),
)
# JSON Lines deliveries: the columns in this order (the register API's field names)
JSON_FIELDS = ("id", "name", "category", "commune", "address", "lat", "lng", "ranking", "updated_at")


@dataclass
class Variant:
    target: Target
    kind: str
    detail: str
    header: list[str]
    rows: list[list[str]]
    sheet: str | None = None  # a workbook's sheet renamed (a bulletin's month is its sheet's name)


@dataclass
class Verdict:
    dataset: str
    file: str
    kind: str
    detail: str
    outcome: str  # stopped | flagged | missed | clean-ok | clean-warning | clean-critical
    how: list[str] = field(default_factory=list)


# --- a delivery as a table of text cells, and back ------------------------------------------------


@dataclass
class Table:
    """A delivery's rows as text cells (numbers written as the delivery writes them), with what is needed to
    write it back in its own format: the lines before the header (CSV), the workbook (XLSX)."""

    header: list[str]
    rows: list[list[str]]
    head: str = ""
    bom: str = ""
    original: list[list[Any]] | None = None  # a workbook's cells as they were, to keep what is not changed


def read_table(target: Target, path: Path) -> Table:
    if target.fmt == "xlsx":
        import openpyxl

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Workbook contains no default style"
            ws = openpyxl.load_workbook(path)[target.sheet]
        cells = [list(r) for r in ws.iter_rows(values_only=True)]
        text = [[_cell_text(v, target.decimal) for v in r] for r in cells]
        return Table(text[target.header_line], text[target.header_line + 1 :], original=cells)
    if target.fmt == "jsonl":
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = [[_cell_text(r.get(f), ".") for f in JSON_FIELDS] for r in records]
        return Table(list(JSON_FIELDS), rows)
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    lines = text.splitlines(keepends=True)
    head = "".join(lines[: target.header_line])
    rows = list(csv.reader(io.StringIO("".join(lines[target.header_line :])), delimiter=target.delimiter))
    return Table(rows[0], rows[1:], head, "\ufeff" if raw.startswith(b"\xef\xbb\xbf") else "")


def write_table(target: Target, source: Path, table: Table, path: Path, sheet: str | None = None) -> None:
    """Write ``table`` to ``path`` in the format of ``source``, the clean delivery it was seeded from."""
    if target.fmt == "xlsx":
        import openpyxl

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(source)
        ws = wb[target.sheet]
        if sheet is not None:
            ws.title = sheet
        grid = [table.header, *table.rows]
        base = target.header_line
        old = table.original or []
        for i, row in enumerate(grid):
            for c, value in enumerate(row):
                was = old[base + i][c] if base + i < len(old) and c < len(old[base + i]) else None
                if _cell_text(was, target.decimal) == value:
                    continue
                number = _number(value, target.decimal)
                cell = ws.cell(row=base + i + 1, column=c + 1)
                if number is not None and (isinstance(was, int | float) or was is None):
                    cell.value = int(number) if number.is_integer() and "," not in value else number
                else:
                    cell.value = value or None
        for i in range(len(grid), len(old) - base):  # rows the variant has fewer of: emptied
            for c in range(len(old[base + i])):
                ws.cell(row=base + i + 1, column=c + 1).value = None
        wb.save(path)
        return
    if target.fmt == "jsonl":
        with path.open("w", encoding="utf-8") as out:
            for row in table.rows:
                record = {}
                for name, value in zip(table.header, row, strict=True):
                    number = _number(value, ".") if name in {"lat", "lng"} else None
                    record[name] = number if number is not None else (value or None)
                out.write(
                    json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
                )
        return
    out = io.StringIO()
    writer = csv.writer(out, delimiter=target.delimiter, lineterminator="\n")
    writer.writerow(table.header)
    writer.writerows(table.rows)
    path.write_text(table.bom + table.head + out.getvalue(), encoding="utf-8")


def _cell_text(value: Any, decimal: str) -> str:
    """A cell as the delivery would write it: numbers with the delivery's decimal separator."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        text = str(int(value)) if float(value).is_integer() else repr(float(value))
        return text.replace(".", ",") if decimal == "," else text
    return str(value)


VN_NUMBER = re.compile(r"^-?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")


def _number(text: str, decimal: str) -> float | None:
    """The value of a number written with ``decimal`` as separator (``1.179,9`` when it is a comma)."""
    text = text.strip()
    if decimal == ",":
        return float(text.replace(".", "").replace(",", ".")) if VN_NUMBER.match(text) else None
    return float(text) if NUMBER.match(text) else None


def _decimals(text: str, decimal: str) -> int:
    text = text.strip()
    return len(text.split(decimal)[1]) if decimal in text else 0


def _write(value: float, decimals: int, like: str, decimal: str) -> str:
    """``value`` written as ``like`` is: its decimal separator, and thousands separators if it had them."""
    text = f"{value:.{decimals}f}"
    if decimal != ",":
        return text
    whole, _, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-")
    if "." in like.strip():  # written with thousands separators
        whole = f"{int(whole):,}".replace(",", ".")
    return sign + whole + ("," + frac if frac else "")


# --- seeding errors into a delivery ---------------------------------------------------------------


def _eligible(target: Target, row: list[str]) -> bool:
    """A row of one area's figures: not a national or regional row (PX-Web marks those with a leading space,
    and they are not published), not a numbering row under the header ("A", "B", "1"...)."""
    if len(row) <= max(target.value_columns):
        return False
    area = row[target.area_column]
    return bool(area.strip()) and not area.startswith(" ") and len(area.strip()) > 2


def _numeric_cells(target: Target, rows: list[list[str]], rng: random.Random, need_digits: int = 1):
    """Candidate (row, column) cells holding a number with at least ``need_digits`` digits, in random order."""
    cells = [
        (i, c)
        for i, row in enumerate(rows)
        if _eligible(target, row)
        for c in target.value_columns
        if (v := _number(row[c], target.decimal)) is not None
        and sum(ch.isdigit() for ch in row[c]) >= need_digits
        and v != 0
    ]
    rng.shuffle(cells)
    return cells


def _name(target: Target, row: list[str]) -> str:
    return " ".join(row[c].strip() for c in (*target.also_area, target.area_column) if row[c].strip())


def _digits(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _shift_period(value: str) -> str | None:
    """The period one step earlier: a year, a quarter's year, a month (2025-03-01 -> 2025-02-01), a date's
    year (12/05/2024 -> 12/05/2023, 2025-03-12T09:15:00+07:00 -> 2024-...)."""
    value = value.strip()
    if re.fullmatch(r"[2-4]", value):  # a quarter
        return str(int(value) - 1)
    if re.fullmatch(r"\d{4}", value):
        return str(int(value) - 1)
    m = re.fullmatch(r"(\d{4})-(\d{2})-01", value)
    if m:
        year, month = int(m[1]), int(m[2])
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        return f"{year:04d}-{month:02d}-01"
    m = re.fullmatch(r"(\d{2}/\d{2}/)(\d{4})", value)
    if m:
        return f"{m[1]}{int(m[2]) - 1}"
    m = re.fullmatch(r"(\d{4})(-.*)", value)
    if m:
        return f"{int(m[1]) - 1}{m[2]}"
    return None


def seed(target: Target, table: Table, kind: str, rng: random.Random) -> Variant | None:
    """``table`` (a clean delivery) with one error of ``kind`` seeded at a random place; None if it has no
    such place."""
    header = list(table.header)
    rows = [list(r) for r in table.rows]
    area, dec = target.area_column, target.decimal

    def cell_change(transform, need_digits=1):
        """``transform(value, decimals)`` -> (new value, decimals) or None, on a random numeric cell."""
        for i, c in _numeric_cells(target, rows, rng, need_digits):
            old = rows[i][c].strip()
            changed = transform(_number(old, dec), _decimals(old, dec))
            if changed is None:
                continue
            new = _write(*changed, like=old, decimal=dec)
            if _number(new, dec) != _number(old, dec):
                rows[i][c] = new
                return f"{_name(target, rows[i])} / {header[c].strip()}: {old} -> {new}"
        return None

    detail = None
    if kind.startswith("unit "):
        factor = {"x10": 10, "x100": 100, "x1000": 1000, "/10": 0.1}[kind.split()[1]]
        detail = cell_change(lambda v, d: (v * factor, d))
    elif kind == "transposed digits":

        def transpose(v: float, d: int):
            text = _digits(v, d)
            spots = [
                j
                for j in range(len(text) - 1)
                if text[j].isdigit() and text[j + 1].isdigit() and text[j] != text[j + 1]
            ]
            if not spots:
                return None
            j = rng.choice(spots)
            return float(text[:j] + text[j + 1] + text[j] + text[j + 2 :]), d

        detail = cell_change(transpose, need_digits=2)
    elif kind == "dropped digit":

        def drop(v: float, d: int):
            text = _digits(v, d)
            j = rng.choice([j for j, ch in enumerate(text) if ch.isdigit()])
            new = text[:j] + text[j + 1 :]
            if not NUMBER.match(new) or new.startswith(".") or new.endswith("."):
                return None
            return float(new), (len(new.split(".")[1]) if "." in new else 0)

        detail = cell_change(drop, need_digits=2)
    elif kind == "decimal comma as thousands":
        # 95,0 read as 950: the decimal separator taken for a thousands separator and dropped; in a column of
        # whole numbers the reverse, 10.599 households read as 10,599.
        def misread(v: float, d: int):
            if d:
                return v * 10**d, 0
            return (v / 1000, 3) if abs(v) >= 1000 else None

        detail = cell_change(misread)
    elif kind == "columns swapped":
        if len(target.value_columns) >= 2:
            for i, _ in _numeric_cells(target, rows, rng):
                a, b = rng.sample(target.value_columns, 2)
                if rows[i][a].strip() != rows[i][b].strip() and _number(rows[i][b], dec) is not None:
                    rows[i][a], rows[i][b] = rows[i][b], rows[i][a]
                    detail = f"{_name(target, rows[i])}: {header[a].strip()} <-> {header[b].strip()}"
                    break
    elif kind == "row copied onto another area":
        eligible = sorted({i for i, _ in _numeric_cells(target, rows, rng)})
        if len(eligible) >= 2:
            src, dst = rng.sample(eligible, 2)
            if all(rows[src][c] == rows[dst][c] for c in target.value_columns):
                return None
            for c in target.value_columns:
                rows[dst][c] = rows[src][c]
            detail = f"{_name(target, rows[src])} copied onto {_name(target, rows[dst])}"
    elif kind == "period shifted":
        if target.period_column is not None:
            i = rng.choice(sorted({i for i, _ in _numeric_cells(target, rows, rng)}))
            old = rows[i][target.period_column]
            new = _shift_period(old)
            if new is None:
                return None
            rows[i][target.period_column] = new
            detail = f"{_name(target, rows[i])}: {header[target.period_column].strip()} {old} -> {new}"
        elif target.sheet is not None and (m := re.fullmatch(r"T(\d{2})-(\d{4})", target.sheet)):
            # a bulletin's month is its sheet's name: the month's sheet named for the month before
            month, year = int(m[1]), int(m[2])
            month, year = (month - 1, year) if month > 1 else (12, year - 1)
            renamed = f"T{month:02d}-{year}"
            return Variant(target, kind, f"sheet {target.sheet} named {renamed}", header, rows, renamed)
        else:  # a row of a year-by-column table slid one year to the right
            i = rng.choice(sorted({i for i, _ in _numeric_cells(target, rows, rng)}))
            cols = list(target.value_columns)
            values = [rows[i][c] for c in cols]
            for c, v in zip(cols[1:], values[:-1], strict=True):
                rows[i][c] = v
            rows[i][cols[0]] = ".."
            detail = f"{_name(target, rows[i])}: every year's figure under the next year"
    elif kind == "total row left in":
        last = max(i for i, _ in _numeric_cells(target, rows, rng))
        total = [""] * len(rows[last])
        for c in target.value_columns:
            numbers = [v for r in rows if _eligible(target, r) and (v := _number(r[c], dec)) is not None]
            if numbers:
                decimals = max(_decimals(r[c], dec) for r in rows if _eligible(target, r))
                total[c] = _write(sum(numbers), decimals, like="1.000" if dec == "," else "1", decimal=dec)
        total[area] = " Total" if target.dataset == "crop_statistics" else "Tổng cộng"
        if target.period_column is not None:
            total[target.period_column] = rows[last][target.period_column]
        rows.insert(last + 1, total)
        detail = "a total row left in"
    elif kind == "duplicate key, other value":
        for i, c in _numeric_cells(target, rows, rng, need_digits=2):
            copy = list(rows[i])
            old = copy[c].strip()
            copy[c] = _write(_number(old, dec) * 1.1, _decimals(old, dec), like=old, decimal=dec)
            if copy[c] != rows[i][c]:
                rows.insert(i + 1, copy)
                detail = f"{_name(target, rows[i])} delivered twice, {header[c].strip()} {rows[i][c]} and {copy[c]}"
                break
    if detail is None:
        return None
    return Variant(target, kind, detail, header, rows)


# --- running a variant the real way --------------------------------------------------------------


def _incremental_mart(dataset: str, conn) -> str | None:
    """The dataset's published mart if it is built incrementally (it keeps each row's ``load_id``, and a build
    merges only newer loads into it): a load deleted from the raw table stays in it until deleted there too."""
    from kho.catalog import catalog

    model = catalog().dataset(dataset).publish.model
    found = conn.execute(
        "select 1 from information_schema.columns"
        " where table_schema = 'marts' and table_name = %s and column_name = 'load_id'",
        [model],
    ).fetchone()
    return f"marts.{model}" if found else None


def _reset(dataset: str, s) -> None:
    """Empty the dataset's raw table, an incremental mart and the bookkeeping (the evaluation's own state only)."""
    import psycopg

    from kho.catalog import catalog

    ds = catalog().dataset(dataset)
    with psycopg.connect(s.warehouse_url) as conn:
        exists = conn.execute("select to_regclass(%s)", [f"{ds.raw_schema}.{ds.raw_table}"]).fetchone()[0]
        if exists:
            conn.execute(f"truncate {ds.raw_schema}.{ds.raw_table}")  # noqa: S608 - names from the catalog
        if mart := _incremental_mart(dataset, conn):  # a table or view mart is rebuilt from raw by dbt
            conn.execute(f"delete from {mart}")  # noqa: S608 - a name from the catalog
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
        if mart := _incremental_mart(dataset, conn):
            # the variant's rows merged into an incremental mart: no other load holds the target's keys, so
            # deleting them gives back the mart the next variant should meet (a key the variant added, such as
            # a crop copied onto a commune that grows none, would otherwise stay and count against the next)
            conn.execute(f"delete from {mart} where load_id = %s", [load_id])  # noqa: S608
        conn.execute("delete from kho_meta.loads where load_id = %s", [load_id])
        conn.execute("delete from kho_meta.quarantine where load_id = %s", [load_id])


class Dbt:
    """``dbt run`` through one long-lived dbt process (``bench/dbt_worker.py``) in Kho's dbt environment."""

    def __init__(self, s, name: str = "main") -> None:
        import os
        import subprocess

        from kho.conforming.dbt import dbt_env, project_dir

        # Each worker its own target and log folders: dbt rewrites its manifest and partial-parse files there.
        own = s.home / "bench-gate" / f"dbt-{name}"
        paths = {"DBT_TARGET_PATH": str(own / "target"), "DBT_LOG_PATH": str(own / "logs")}

        python = Path(s.venv_bin("dbt", "dbt")).parent / "python"
        self.process = subprocess.Popen(
            # -P: bench/ must not be on the path, dbt imports every module named dbt_* it finds there
            [str(python), "-P", str(Path(__file__).with_name("dbt_worker.py"))],
            cwd=project_dir(s),
            env={**os.environ, **dbt_env(s), **paths},
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


@dataclass
class Outcome:
    """What the gate said about one delivery: findings by rule (``layer: expectation(column; kwargs)``) with
    their one-line summaries, rows quarantined at landing."""

    critical: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int | None] = field(default_factory=dict)  # unexpected rows per rule, where counted
    warnings: dict[str, str] = field(default_factory=dict)
    quarantined: int = 0
    landed: str | None = None  # a digest of the rows landed (their cells and source rows), None if refused

    def against(self, clean: Outcome | None) -> tuple[str, list[str]]:
        """critical | warning | ok, and what said so, counting only what the clean delivery does not say."""
        clean = clean or Outcome()
        if self.landed is not None and (self.landed, self.quarantined) == (clean.landed, clean.quarantined):
            # the same rows as the clean delivery's reached the raw table: landing left the error behind (a
            # total row past the catalog's footer pattern, 2,002 households read as 2002 in a whole-number column)
            return "critical", [
                "landed exactly as the clean delivery: the seeded error did not get past landing"
            ]
        how = [v for k, v in self.critical.items() if _more(k, self.counts, clean.critical, clean.counts)]
        if self.quarantined > clean.quarantined:
            how.insert(0, f"{self.quarantined - clean.quarantined} more row(s) quarantined at landing")
        if how:  # a quarantined row is kept out of the warehouse: the erroneous figure is not published
            return "critical", how
        how = [v for k, v in self.warnings.items() if _more(k, self.counts, clean.warnings, clean.counts)]
        return ("warning", how) if how else ("ok", [])


def _count(finding) -> int | None:
    """Rows a finding counts: its unexpected rows, or a cross-row rule's rows selected (``observed 3``)."""
    if finding.unexpected_count is not None:
        return finding.unexpected_count
    m = re.fullmatch(r"observed ([\d,]+)", finding.observed)
    return int(m[1].replace(",", "")) if m else None


def _more(rule: str, counts: dict, clean: dict, clean_counts: dict) -> bool:
    """A finding the clean delivery does not raise, or raises on fewer rows (a rule the clean delivery already
    trips, such as a revision the sample really makes, still tells a new error by the rows it adds)."""
    if rule not in clean:
        return True
    new, old = counts.get(rule), clean_counts.get(rule)
    return new is not None and old is not None and new > old


def _landed(dataset: str, load_id: str | None, s) -> str | None:
    """A digest of one load's rows as landed: every cell and its source row, not the load's own bookkeeping
    (load id, file name and hash, load time), so two deliveries that landed the same rows have the same digest."""
    import psycopg

    from kho.catalog import catalog

    if load_id is None:
        return None
    ds = catalog().dataset(dataset)
    bookkeeping = "- '_load_id' - '_source_file' - '_file_sha256' - '_loaded_at'"
    rows = f"select (to_jsonb(r) {bookkeeping})::text as cells from {ds.raw_schema}.{ds.raw_table} as r"  # noqa: S608 - names from the catalog
    with psycopg.connect(s.warehouse_url) as conn:
        return conn.execute(
            f"select md5(coalesce(string_agg(cells, E'\\n' order by cells), '')) from ({rows}"  # noqa: S608
            " where r._load_id = %s) as landed",
            [load_id],
        ).fetchone()[0]


def judge(dataset: str, path: Path, s, dbt: Dbt) -> Outcome:
    """Land ``path``, run the raw suite, dbt and the mart suite; what the gate said."""
    from kho.catalog import catalog
    from kho.errors import KhoError
    from kho.landing.land import land_file
    from kho.validating.quality import validate

    out = Outcome()

    def rule(layer: str, f) -> str:
        return f"{layer}: {f.expectation}({f.column}; {f.kwargs})"

    try:
        report = land_file(dataset, path, s=s)
    except KhoError as exc:
        out.critical["refused"] = f"refused at landing: {str(exc).splitlines()[0][:160]}"
        return out
    try:
        out.quarantined = report.rows_quarantined
        out.landed = _landed(dataset, report.load_id, s)
        raw = validate(dataset, "raw", load_id=report.load_id, s=s)
        out.critical |= {rule("raw", f): f"raw: {f.summary}" for f in raw.critical_failures}
        out.counts |= {rule("raw", f): _count(f) for f in raw.critical_failures + raw.warnings}
        out.warnings |= {rule("raw", f): f"raw: {f.summary}" for f in raw.warnings}
        if raw.success:
            model = catalog().dataset(dataset).publish.model
            ok, _ = dbt.run("run", "--quiet", "--select", model)
            if not ok:
                out.critical["dbt"] = f"dbt run {model} failed"
            else:
                mart = validate(dataset, "mart", s=s)
                out.critical |= {rule("mart", f): f"mart: {f.summary}" for f in mart.critical_failures}
                out.counts |= {rule("mart", f): _count(f) for f in mart.critical_failures + mart.warnings}
                out.warnings |= {rule("mart", f): f"mart: {f.summary}" for f in mart.warnings}
    finally:
        _forget(dataset, report.load_id, s)
    return out


def evaluate(
    per_kind: int,
    seed_value: int,
    s,
    log=print,
    targets: tuple[Target, ...] = TARGETS,
    out: Path | None = None,
    prepared: bool = False,
) -> list[Verdict]:
    """Seed ``per_kind`` errors of each kind into each target and judge them; ``prepared``: the marts'
    upstream models are built already (by :func:`evaluate_in_parallel`), each target's mart only is run."""
    from kho.landing.land import land_file

    verdicts: list[Verdict] = []
    work = Path(tempfile.mkdtemp(prefix="kho-seeded-"))
    dbt = Dbt(s, "-".join(sorted({t.dataset for t in targets})) if prepared else "main")

    def keep(verdict: Verdict) -> None:
        verdicts.append(verdict)
        log(
            f"{verdict.dataset}/{verdict.file}: {verdict.kind}: {verdict.detail} -> {verdict.outcome} {verdict.how[:2]}"
        )
        if out is not None:  # written as it goes: a long run interrupted still tells what it measured
            out.write_text(json.dumps([v.__dict__ for v in verdicts], ensure_ascii=False, indent=1) + "\n")

    try:
        _evaluate(per_kind, seed_value, s, targets, work, dbt, land_file, keep, prepared)
    finally:
        dbt.close()
    return verdicts


def evaluate_in_parallel(
    per_kind: int, seed_value: int, s, targets: tuple[Target, ...], out: Path, workers: int
):
    """The same evaluation in ``workers`` processes, each on whole datasets (a dataset's targets share its raw
    table), after one dbt build of every mart's upstream models. Validations still take turns (GX's project
    lock); landing, dbt and the rest overlap. The verdicts are those of one process, in the targets' order."""
    import os
    import subprocess

    datasets = list(dict.fromkeys(t.dataset for t in targets))
    load = {d: sum(len(t.kinds or KINDS) for t in targets if t.dataset == d) for d in datasets}
    groups: list[list[str]] = [[] for _ in range(min(workers, len(datasets)))]
    for d in sorted(datasets, key=load.get, reverse=True):  # the largest first, each to the lightest group
        min(groups, key=lambda g: sum(load[x] for x in g)).append(d)
    dbt = Dbt(s)
    try:
        for d in datasets:
            _reset(d, s)
        ok, output = dbt.run("run", "--quiet", "--select", *("+" + _model(d) for d in datasets))
        if not ok:
            raise SystemExit(f"dbt could not build the marts:\n{output}")
    finally:
        dbt.close()
    parts = [out.with_name(f".{out.stem}.part{i}.json") for i in range(len(groups))]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.seeded_errors",
                "--prepared",
                "--per-kind",
                str(per_kind),
                "--seed",
                str(seed_value),
                "--out",
                str(part),
                *(a for d in group for a in ("--dataset", d)),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # each verdict logged as it comes
        )  # fmt: skip
        for group, part in zip(groups, parts, strict=True)
    ]
    failed = [p.args for p in procs if p.wait() != 0]
    verdicts = [v for part in parts if part.exists() for v in json.loads(part.read_text(encoding="utf-8"))]
    order = {t.file: i for i, t in enumerate(targets)}
    verdicts.sort(
        key=lambda v: order.get(v["file"], len(order))
    )  # stable: each file's verdicts in their order
    out.write_text(json.dumps(verdicts, ensure_ascii=False, indent=1) + "\n")
    for part in parts:
        part.unlink(missing_ok=True)
    if failed:
        raise SystemExit(f"{len(failed)} worker(s) failed; the verdicts they wrote are in {out}")


def clean_delivery(target: Target, work: Path, s) -> Path:
    """The clean delivery errors are seeded into: a sample file, or the portal stand-in's extract."""
    if target.source == "portal":
        from kho.catalog import catalog
        from kho.delivering.database import fetch

        fetched = fetch(catalog().dataset(target.dataset), s=s)
        if fetched is None:
            raise SystemExit(
                f"{target.dataset}: the portal returned no rows (is `python -m demo up` running?)"
            )
        return fetched.replace(work / target.file)
    if target.fmt == "jsonl":  # the register API's records (samples/<dataset>/api/), one per line as fetched
        (api,) = (REPO / "samples" / target.dataset / "api").glob("*.json")
        path = work / target.file
        with path.open("w", encoding="utf-8") as out:
            for record in json.loads(api.read_text(encoding="utf-8")):
                out.write(
                    json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
                )
        return path
    return REPO / "samples" / target.dataset / target.file


def _evaluate(per_kind, seed_value, s, targets, work, dbt, land_file, keep, prepared) -> None:
    for target in targets:
        rng = random.Random(f"{seed_value}:{target.file}")  # the same errors whichever worker seeds them
        samples = REPO / "samples" / target.dataset
        _reset(target.dataset, s)
        if samples.is_dir():
            for other in sorted(samples.iterdir()):
                if other.name != target.file and other.is_file():
                    land_file(target.dataset, other, s=s)
        ok, output = dbt.run("run", "--quiet", "--select", ("" if prepared else "+") + _model(target.dataset))
        if not ok:
            raise SystemExit(f"dbt could not build {target.dataset}'s mart:\n{output}")
        clean_path = clean_delivery(target, work, s)
        baseline = judge(target.dataset, clean_path, s, dbt)
        # a false alarm is a finding on the clean delivery; the rows it quarantines are the sample's own
        # unknown names (every sample holds a few on purpose), held back and reported as they should be
        verdict, how = (
            ("critical", list(baseline.critical.values()))
            if baseline.critical
            else ("warning", list(baseline.warnings.values()))
            if baseline.warnings
            else ("ok", [])
        )
        outcome = {"critical": "clean-critical", "warning": "clean-warning", "ok": "clean-ok"}[verdict]
        detail = "the sample as delivered" + (
            f" ({baseline.quarantined} row(s) quarantined: unknown names the sample holds on purpose)"
            if baseline.quarantined
            else ""
        )
        keep(Verdict(target.dataset, target.file, "clean", detail, outcome, how))
        table = read_table(target, clean_path)
        for kind in target.kinds or KINDS:
            made = 0
            for attempt in range(per_kind * 4):
                if made == per_kind:
                    break
                variant = seed(target, table, kind, rng)
                if variant is None:
                    continue
                made += 1
                path = work / f"{attempt}_{target.file}"
                write_table(
                    target,
                    clean_path,
                    Table(variant.header, variant.rows, table.head, table.bom, table.original),
                    path,
                    variant.sheet,
                )
                verdict, how = judge(target.dataset, path, s, dbt).against(baseline)
                outcome = {"critical": "stopped", "warning": "flagged", "ok": "missed"}[verdict]
                keep(Verdict(target.dataset, target.file, kind, variant.detail, outcome, how[:8]))
                if variant.sheet is not None:
                    break  # one way to rename the sheet


def _model(dataset: str) -> str:
    from kho.catalog import catalog

    return catalog().dataset(dataset).publish.model


def _row(label: str, counts: Counter, n: int) -> str:
    return f"| {label} | {n} | {counts['stopped']} | {counts['flagged']} | {counts['missed']} |"


def table(verdicts: list[Verdict]) -> str:
    """The README's tables: per dataset, then per kind of error, seeded / stopped / flagged / missed, and the
    clean deliveries' findings."""
    seeded = [v for v in verdicts if v.kind != "clean"]
    clean = [v for v in verdicts if v.kind == "clean"]
    lines = [
        "| dataset | seeded | stopped | flagged | missed | clean deliveries: critical / warning / ok |",
        "|---|---|---|---|---|---|",
    ]
    for dataset in dict.fromkeys(v.dataset for v in verdicts):
        mine = Counter(v.outcome for v in seeded if v.dataset == dataset)
        ok = Counter(v.outcome for v in clean if v.dataset == dataset)
        n = sum(mine[o] for o in ("stopped", "flagged", "missed"))
        lines.append(
            _row(f"`{dataset}`", mine, n)
            + f" {ok['clean-critical']} / {ok['clean-warning']} / {ok['clean-ok']} |"
        )
    lines += ["", "| seeded error | seeded | stopped | flagged | missed |", "|---|---|---|---|---|"]
    for kind in KINDS:
        mine = Counter(v.outcome for v in seeded if v.kind == kind)
        if mine:
            lines.append(_row(kind, mine, sum(mine.values())))
    total = Counter(v.outcome for v in seeded)
    n = len(seeded)
    lines.append(
        f"| **all** | **{n}** | **{total['stopped']}** | **{total['flagged']}** | **{total['missed']}** |"
    )
    ok = Counter(v.outcome for v in clean)
    caught = (total["stopped"] + total["flagged"]) / n if n else 0
    lines.append("")
    lines.append(
        f"Stopped or flagged: {caught:.0%}. Clean deliveries: {len(clean)}, "
        f"critical false alarms {ok['clean-critical']}, with warnings {ok['clean-warning']}."
    )
    return "\n".join(lines)


def merge(new: Path, into: Path, datasets: set[str]) -> None:
    """The verdicts of ``datasets`` in ``into`` replaced by those in ``new`` (which is removed), the others kept;
    in the targets' order."""
    kept = json.loads(into.read_text(encoding="utf-8")) if into.exists() else []
    verdicts = [v for v in kept if v["dataset"] not in datasets] + json.loads(new.read_text(encoding="utf-8"))
    order = {t.file: i for i, t in enumerate(TARGETS)}
    # stable: each file's verdicts keep their order
    verdicts.sort(key=lambda v: order.get(v["file"], len(order)))
    into.write_text(json.dumps(verdicts, ensure_ascii=False, indent=1) + "\n")
    new.unlink()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.seeded_errors", description=__doc__.split("\n\n")[0])
    p.add_argument("--per-kind", type=int, default=2, help="errors of each kind per target file (default 2)")
    p.add_argument("--seed", type=int, default=20260, help="random seed (default 20260)")
    p.add_argument("--out", type=Path, default=RESULTS, help=f"verdicts as JSON (default {RESULTS})")
    p.add_argument("--dataset", action="append", help="only these datasets (repeatable)")
    p.add_argument("--table", action="store_true", help="print the table of the verdicts in --out and stop")
    p.add_argument("--workers", type=int, default=3, help="processes, each on whole datasets (default 3)")
    p.add_argument(
        "--merge",
        action="store_true",
        help="with --dataset: replace only these datasets' verdicts in --out, keep the others'",
    )
    p.add_argument("--prepared", action="store_true", help=argparse.SUPPRESS)  # a worker of --workers
    opts = p.parse_args(argv)
    if not opts.table:
        from kho.settings import settings

        targets = tuple(t for t in TARGETS if not opts.dataset or t.dataset in opts.dataset)
        out = opts.out.with_name(f".{opts.out.stem}.merging.json") if opts.merge else opts.out
        if opts.workers > 1 and not opts.prepared and len({t.dataset for t in targets}) > 1:
            evaluate_in_parallel(opts.per_kind, opts.seed, settings(), targets, out, opts.workers)
        else:
            evaluate(opts.per_kind, opts.seed, settings(), targets=targets, out=out, prepared=opts.prepared)
        if opts.merge:
            merge(out, opts.out, {t.dataset for t in targets})
    verdicts = [Verdict(**v) for v in json.loads(opts.out.read_text(encoding="utf-8"))]
    print(table(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
