"""A worksheet's ordinary data rows are converted a block at a time, column by column; every other row is
read by itself. Both must give what reading every row by itself gives: the same records (rows, issues, cells
as delivered), in the same order, the same rows skipped, the same end of the table.

The sheets are made up here, many at random from cells that go wrong in every way the readers know."""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from functools import partial
from pathlib import Path

import pytest

from kho.catalog import Dataset
from kho.errors import DeliveryError
from kho.landing.readers import tabular
from kho.landing.readers.excel import column_letter
from kho.landing.readers.tabular import Row, Sheet, TableReader
from kho.landing.values import cell_text
from tests.unit.test_tabular import dataset as tabular_dataset

HEADERS = {
    "name": "Tên đơn vị",
    "commune": "Xã, phường",
    "count": "Số cơ sở",
    "amount": "Doanh thu (triệu đồng)",
    "day": "Ngày thành lập",
    "at": "Thời điểm",
    "flag": "Có giấy phép",
    "note": "Ghi chú",
}
KINDS = {
    "name": "text",
    "commune": "text",
    "count": "integer",
    "amount": "numeric",
    "day": "date",
    "at": "timestamp",
    "flag": "boolean",
    "note": "text",
}
YEARS = {"count": "2023", "amount": "2024"}  # headers that are years, written as numbers in a repeated header
FOOTERS = ["^(tổng cộng|người lập)", r"^\d{4}-12-31", r"^20\d\d$", "^true"]  # some match typed cells' text
WHEN = dt.datetime(2024, 3, 1, 8, 30)
EVERYWHERE = ["", " ", "-", "…", "\u200b", True, 0.0, WHEN, dt.date(2024, 1, 2), dt.time(8), 2023.0]
CELLS = {  # what a column of each kind holds, most often first
    "text": [
        "Xã A",
        "Phường Bến Nghé",
        "  Xã  B ",
        "Xã\u200bC",
        unicodedata.normalize("NFD", "Xã Đông Hòa"),
        12.0,
        3.25,
        "2024",
        "I",
    ],
    "integer": [2024.0, 7.0, 12, 2.5, 1e16, 1e30, float("nan"), float("inf"), "12", "1.234", "1,5", "x"],
    "numeric": [1.5, 0.1 + 0.2, 34342.95, 1e20, 1e30, -0.0, 3, "1,5", "1.234", "2.5", "một"],
    "date": [
        dt.date(2020, 5, 17),
        dt.date(2024, 12, 31),
        dt.datetime(2021, 1, 1),
        WHEN,
        45000.0,
        45000.5,
        1e9,
        "31/12/2024",
        "x",
    ],
    "timestamp": [WHEN, dt.date(2023, 7, 1), 45000.25, -5.0, "2024-01-01 10:00", "sáng"],
    "boolean": [True, False, 1.0, 0.0, 2.0, "có", "x", "không", "?"],
}


def dataset(rng: random.Random) -> Dataset:
    names = rng.sample(list(HEADERS), rng.randint(2, len(HEADERS)))
    required = set(rng.sample(names, min(rng.choice([0, 1, 2, 2, 3, len(names)]), len(names))))
    years = rng.random() < 0.2
    columns = [
        {
            "name": n,
            "type": KINDS[n],
            "source_names": [YEARS[n] if years and n in YEARS else HEADERS[n]],
            "required": n in required,
        }
        for n in names
    ]
    source: dict = {"format": "xlsx"}
    if rng.random() < 0.5:
        source["footer_pattern"] = rng.choice(FOOTERS)
    if rng.random() < 0.3:
        columns.append({"name": "section"})
        source["section_column"] = "section"
    if rng.random() < 0.3:
        source["ignore_columns"] = ["STT"]
    return tabular_dataset(columns, **source)


def table(rng: random.Random, ds: Dataset) -> list[list]:
    """A header (maybe with an ignored and an unnamed column), then rows of every sort; rows of another
    length than the header's in some sheets only (they keep a block from being converted column-wise)."""
    columns = [c for c in ds.columns if c.name != "section"]
    header = [c.source_names[0] for c in columns]
    if ds.source.ignore_columns:
        header.insert(rng.randint(0, len(header)), "STT")
    if rng.random() < 0.3:
        header.insert(rng.randint(0, len(header)), "")
    width = len(header)
    kinds = {c.source_names[0]: c.type for c in columns}
    ragged = rng.random() < 0.2

    def data(odd: int = 0) -> list:
        """A row of the usual values; ``odd`` of its cells anything their column may hold, or anything."""
        row = [CELLS[kinds[t]][0] if t in kinds else rng.choice(["", "", "", "lạc", 3.0]) for t in header]
        for pos in rng.sample(range(width), min(odd, width)):
            pool = CELLS[kinds[header[pos]]] if header[pos] in kinds else EVERYWHERE
            row[pos] = rng.choice(pool if rng.random() < 0.7 else EVERYWHERE)
        return row

    def sparse(*values) -> list:
        return [*values, *[""] * (width - len(values))]

    rows = [header]
    if rng.random() < 0.2:  # numbered columns under the header ("1 2 3", typed numbers in Excel)
        rows.append([float(i + 1) for i in range(width)])
    for _ in range(rng.randint(0, 60)):
        kind = rng.choices(
            ["data", "odd", "empty", "heading", "footer", "footnote", "header", "numbering", "short", "long"],
            [45, 20, 3, 4, 1, 2, 2, 1, 3 * ragged, 3 * ragged],
        )[0]
        if kind == "data":
            rows.append(data())
        elif kind == "odd":
            rows.append(data(rng.choice([1, 1, 2, 3])))
        elif kind == "empty":
            rows.append(sparse())
        elif kind == "heading":
            rows.append(
                sparse(*rng.choice([["I. PHẦN MỘT"], ["A", "Khu vực nông thôn"], ["Xã A"], data()[:2]]))
            )
        elif kind == "footer":
            rows.append(sparse(rng.choice(["Tổng cộng", "Người lập biểu"]), *data()[1:3]))
        elif kind == "footnote":
            rows.append(rng.choice([sparse("Ghi chú: số liệu sơ bộ"), ["Nguồn: Cục Thống kê", *data()[1:]]]))
        elif kind == "header":
            rows.append([float(h) if h.isdigit() and rng.random() < 0.7 else h for h in header])
        elif kind == "numbering":
            rows.append([rng.choice([str(i + 1), float(i + 1), float(i + 1), ""]) for i in range(width)])
        elif kind == "short":
            rows.append(data()[: rng.randint(0, width - 1)])
        else:
            rows.append([*data(), rng.choice(["", "thừa", 1.0])])
    return rows


def sheet(rng: random.Random, grid: list[list]) -> dict:
    """How the sheet comes: a workbook's mostly; some with an error cell; some as a CSV's (all text,
    every row as wide as the header, or every data row one field short)."""
    roll = rng.random()
    if roll < 0.1 and len(grid) > 1:
        line = rng.randint(2, len(grid))
        return {
            "broken": {(line, rng.randrange(len(grid[line - 1]) or 1)): ("#DIV/0!", "a value, not an error")}
        }
    if roll < 0.2:
        short = rng.random() < 0.5
        text = [[cell_text(c) for c in row[: len(row) - (short and i > 0)]] for i, row in enumerate(grid)]
        grid[:] = text
        return {"width_is_fixed": True, "text_only": True, "label": lambda pos: f"column {pos + 1}"}
    return {}


def outcome(ds: Dataset, grid: list[list], *, column_wise: bool, **how) -> tuple:
    """Everything a reader of the sheet gets: the records as they come, or the refusal."""
    sheet = Sheet(
        "d.xlsx, sheet 'Data'",
        iter([Row(line, list(cells)) for line, cells in enumerate(grid, 1)]),
        **{"label": column_letter, **how},
    )
    reader = TableReader(ds, column_wise=column_wise)
    try:
        records = [*reader.read(sheet), *reader.finish()]
    except DeliveryError as exc:
        return ("refused", str(exc))
    return (
        reader.delivered,
        [(r.source_row, repr(r.rows), r.issues, r.raw) for r in records],
    )


@pytest.mark.parametrize("block_rows", [1, 3, 512])
def test_rows_converted_column_by_column_are_read_as_row_by_row(block_rows, monkeypatch):
    monkeypatch.setattr(tabular, "BLOCK_ROWS", block_rows)
    converted = []
    landed = tabular._ColumnWise.landed

    def counted(self, block):
        rows = landed(self, block)
        converted.append(sum(row is not None for row in rows))
        return rows

    monkeypatch.setattr(tabular._ColumnWise, "landed", counted)
    rng = random.Random(block_rows)
    for _ in range(600):
        ds = dataset(rng)
        grid = table(rng, ds)
        how = sheet(rng, grid)
        expected = outcome(ds, grid, column_wise=False, **how)
        assert outcome(ds, grid, column_wise=True, **how) == expected, (grid, how)
    # Not a comparison of two row-by-row readings: thousands of rows converted column by column (fewer
    # with blocks of one or three rows, where a block without an ordinary row soon ends the conversion).
    assert sum(converted) > {1: 400, 3: 3000}.get(block_rows, 5000)


def test_a_workbook_of_ordinary_rows_is_converted_column_by_column(monkeypatch):
    """The comparison above is not between two readings of every row by itself."""
    rows: list[int] = []
    convert = tabular._convert_column

    def counted(values, *args):
        rows.append(len(values))
        return convert(values, *args)

    monkeypatch.setattr(tabular, "_convert_column", counted)
    ds = dataset(random.Random(0))
    grid = [[HEADERS[c.name] for c in ds.columns if c.name != "section"]]
    grid += [[CELLS[c.type][0] for c in ds.columns if c.name != "section"] for _ in range(1000)]
    assert outcome(ds, grid, column_wise=True) == outcome(ds, grid, column_wise=False)
    assert sum(rows) == 1000 * len(grid[0])


@pytest.mark.parametrize("dataset_id", ["crop_production_commune", "material_prices"])
def test_the_sample_reports_read_the_same_either_way(dataset_id, monkeypatch):
    """Printed reports: title rows, merged header cells, section headings, totals, notes, several sheets."""
    from kho.catalog import catalog
    from kho.landing.readers import excel

    ds = catalog().dataset(dataset_id)
    for path in sorted((Path(__file__).parents[2] / "samples" / dataset_id).glob("*.xlsx")):
        read = {}
        for column_wise in (False, True):
            monkeypatch.setattr(excel, "TableReader", partial(TableReader, column_wise=column_wise))
            records = list(excel.read(ds, path, path.name))
            read[column_wise] = [(r.source_row, repr(r.rows), r.issues, r.raw) for r in records]
        assert read[True] == read[False], path.name
        assert read[True], path.name
