"""PX-Web CSV exports of the statistics office (one table per file).

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kho.catalog import Dataset
from kho.errors import DeliveryError, Plain, Problem
from kho.landing.decode import decode_utf8
from kho.landing.readers.record import Issue, Record

MAX_BYTES = 50 * 1024 * 1024  # a PX-Web table is a few hundred lines; anything bigger is not one

MEASURES = {
    "planted area": ("planted_area", "thousand ha"),
    "production": ("production", "thousand tonnes"),
    "yield": ("yield", "quintals/ha"),
}
CROPS = {
    "paddy": ("paddy", "whole_year"),
    "spring paddy": ("paddy", "spring"),
    "autumn paddy": ("paddy", "autumn"),
    "winter paddy": ("paddy", "winter"),
    "maize": ("maize", "whole_year"),
    "cassava": ("cassava", "whole_year"),
    "sweet potatoes": ("sweet_potatoes", "whole_year"),
    "sweet potato": ("sweet_potatoes", "whole_year"),
    "cereals": ("cereals", "whole_year"),
}
TITLE = re.compile(r"^\s*(?P<measure>planted area|production|yield) of (?P<crop>.+?) by province\b", re.I)
YEAR = re.compile(r"^(?P<prel>prel\.?\s*)?(?P<year>(19|20)\d\d)$", re.I)
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
MISSING = {"..", "...", ""}

EXPECTED_TITLE = (
    "a PX-Web title '<Planted area|Production|Yield> of <crop> by province ...' with crop one of: "
    + ", ".join(sorted(c for c in CROPS if c != "sweet potato"))
)


@dataclass(frozen=True)
class Table:
    title: str
    measure: str
    unit: str
    crop: str
    season: str


def parse_title(title: str, dataset: str, file: str) -> Table:
    """Measure, unit, crop and season from a PX-Web title line, or a DeliveryError."""
    m = TITLE.match(title)
    crop_text = m and " ".join(m["crop"].lower().split())
    if not m or crop_text not in CROPS:
        raise DeliveryError(Problem(dataset, file, 1, None, EXPECTED_TITLE, title))
    measure, unit = MEASURES[m["measure"].lower()]
    crop, season = CROPS[crop_text]
    return Table(title=title.strip(), measure=measure, unit=unit, crop=crop, season=season)


def parse_years(header: list[str], dataset: str, file: str) -> list[tuple[int, bool]]:
    """``[(year, is_preliminary), ...]`` for the header's year columns (line 3)."""
    if len(header) < 2:
        raise DeliveryError(
            Problem(
                dataset, file, 3, None, "a header line: area label then one column per year", ";".join(header)
            )
        )
    years: list[tuple[int, bool]] = []
    for label in header[1:]:
        m = YEAR.match(label.strip())
        if not m:
            raise DeliveryError(
                Problem(dataset, file, 3, label, "a year such as '2015' or 'Prel. 2016'", label)
            )
        year = int(m["year"])
        if any(y == year for y, _ in years):
            raise DeliveryError(
                Problem(dataset, file, 3, label, "each year once", Plain(f"year {year} twice"))
            )
        years.append((year, bool(m["prel"])))
    return years


def read(dataset: Dataset, path: Path, file_name: str) -> Iterator[Record]:
    """Yield one record per area line; each record holds one landed row per year column."""
    ds = dataset.id
    if path.stat().st_size > MAX_BYTES:
        raise DeliveryError(
            Problem(
                ds,
                file_name,
                None,
                None,
                f"a PX-Web table under {MAX_BYTES >> 20} MB",
                Plain(f"{path.stat().st_size:,} bytes"),
            )
        )
    text = decode_utf8(path.read_bytes(), ds, file_name)
    lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"'))
    if not lines or not any(f.strip() for f in lines[0]):
        raise DeliveryError(
            Problem(ds, file_name, 1, None, "a PX-Web export (title on line 1)", Plain("an empty file"))
        )
    if len(lines[0]) != 1 or len(lines) < 3 or any(f.strip() for f in lines[1]):
        found = ";".join(lines[0])
        raise DeliveryError(
            Problem(
                ds, file_name, 1, None, "a PX-Web export: a quoted title alone on line 1, line 2 empty", found
            )
        )
    table = parse_title(lines[0][0], ds, file_name)
    header = lines[2]
    years = parse_years(header, ds, file_name)
    data_lines = [
        (n, fields) for n, fields in enumerate(lines[3:], start=4) if any(f.strip() for f in fields)
    ]
    if not data_lines:
        raise DeliveryError(
            Problem(ds, file_name, 4, None, "at least one area row after the header", Plain("none"))
        )
    for line_no, fields in data_lines:
        raw = dict(zip(header, fields, strict=False))
        if len(fields) != len(header):
            yield Record(
                line_no,
                raw,
                issues=[Issue(header[0], f"{len(header)} fields like the header", f"{len(fields)} fields")],
            )
            continue
        area = " ".join(fields[0].split())
        record = Record(line_no, raw)
        for (year, prel), label, cell in zip(years, header[1:], fields[1:], strict=True):
            cell = cell.strip()
            if cell in MISSING:
                value = None
            elif NUMBER.match(cell):
                value = cell
            else:
                record.issues.append(Issue(label, "a number with a decimal point, or '..' for missing", cell))
                continue
            record.rows.append(
                {
                    "table_title": table.title,
                    "measure": table.measure,
                    "crop": table.crop,
                    "season": table.season,
                    "unit": table.unit,
                    "area_name": area,
                    "year": year,
                    "is_preliminary": prel,
                    "value": value,
                }
            )
        yield record
