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
from kho.landing.readers.tabular import header_key
from kho.landing.values import clean_text

MAX_BYTES = 50 * 1024 * 1024  # a PX-Web table is a few hundred lines; anything bigger is not one

# The measures the mart converts, with the unit each is delivered in when the title declares none. Any other
# measure lands as data: its id from its name ("Production per capita" -> production_per_capita) and the unit
# the title declares in parentheses ("(kg/person)"); the mart then leaves it out until it knows it.
MEASURES = {
    "planted area": ("planted_area", "thousand ha"),
    "production": ("production", "thousand tonnes"),
    "yield": ("yield", "quintals/ha"),
    "dien tich gieo trong": ("planted_area", "thousand ha"),
    "dien tich": ("planted_area", "thousand ha"),
    "san luong": ("production", "thousand tonnes"),
    "nang suat": ("yield", "quintals/ha"),
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
# Vietnamese titles ("Sản lượng lúa bình quân đầu người (kg/người) phân theo địa phương"), crops as header_key
# writes them, longest first.
CROPS_VI = {
    "lua dong xuan": ("paddy", "spring"),
    "lua he thu": ("paddy", "autumn"),
    "lua mua": ("paddy", "winter"),
    "lua ca nam": ("paddy", "whole_year"),
    "lua": ("paddy", "whole_year"),
    "ngo": ("maize", "whole_year"),
    "san": ("cassava", "whole_year"),
    "khoai lang": ("sweet_potatoes", "whole_year"),
    "cay luong thuc co hat": ("cereals", "whole_year"),
    "luong thuc co hat": ("cereals", "whole_year"),
}
TITLE = re.compile(
    r"^(?P<measure>.+?)(?:\s*\((?P<unit>[^()]+)\))?\s+of\s+(?P<crop>.+?)\s+by\s+province\b", re.I
)
TITLE_VI = re.compile(r"^(?P<body>.+?)\s+(?:phân\s+)?theo\s+(?:địa\s+phương|tỉnh)", re.I)
UNIT = re.compile(r"\s*\((?P<unit>[^()]+)\)")
# Year headers as statistics offices write them, read on header_key's form (lower case, no accents or
# punctuation): "2016", "Prel. 2016", "Sơ bộ 2016", "Sb 2016", "SB2016", "Ước tính 2016", "Ước 2016",
# "2016 (sơ bộ)", "Est. 2016". A mark makes the year's figures preliminary.
_MARK = r"so bo|sb|prel|preliminary|provisional|uoc tinh|uoc|est|estimated"
YEAR = re.compile(rf"^(?:(?P<before>{_MARK})\s*)?(?P<year>(?:19|20)\d\d)(?:\s*(?P<after>{_MARK}))?$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
MISSING = {"..", "...", ""}

EXPECTED_TITLE = (
    "a PX-Web title '<measure> [(unit)] of <crop> by province ...' or '<chỉ tiêu> <cây trồng> [(đơn vị)] phân"
    " theo địa phương' with crop one of: " + ", ".join(sorted(c for c in CROPS if c != "sweet potato"))
)


@dataclass(frozen=True)
class Table:
    title: str
    measure: str
    unit: str
    crop: str
    season: str


def _measure(text: str, unit: str | None) -> tuple[str, str] | None:
    """(measure id, unit): a known measure's, else one named by the title with the unit it declares."""
    key = header_key(text)
    if key in MEASURES:
        measure, default = MEASURES[key]
        return measure, unit or default
    if not key or not unit:
        return None  # a measure Kho does not know must declare its unit
    return key.replace(" ", "_")[:63], unit


def parse_title(title: str, dataset: str, file: str) -> Table:
    """Measure, unit, crop and season from a PX-Web title line (English or Vietnamese), or a DeliveryError.

    Spacing and case do not matter (doubled spaces, non-breaking spaces, upper case)."""
    text = " ".join(clean_text(title).split())
    found = None
    if m := TITLE.match(text):
        crop = CROPS.get(" ".join(m["crop"].lower().split()))
        measure = _measure(m["measure"], m["unit"] and m["unit"].strip())
        found = crop and measure and (measure, crop)
    elif m := TITLE_VI.match(text):
        body = m["body"]
        unit_match = UNIT.search(body)
        unit = unit_match["unit"].strip() if unit_match else None
        words = f" {header_key(UNIT.sub(' ', body))} "
        for crop_key, crop in CROPS_VI.items():
            if f" {crop_key} " in words:
                measure = _measure(" ".join(words.replace(f" {crop_key} ", " ").split()), unit)
                found = measure and (measure, crop)
                break
    if not found:
        raise DeliveryError(Problem(dataset, file, 1, None, EXPECTED_TITLE, title))
    (measure, unit), (crop, season) = found
    return Table(title=text, measure=measure, unit=unit, crop=crop, season=season)


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
        key = header_key(label)
        m = YEAR.match(key) or YEAR.match(re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", key))
        if not m:
            raise DeliveryError(
                Problem(dataset, file, 3, label, "a year such as '2015', 'Prel. 2016' or 'Sơ bộ 2016'", label)
            )
        year = int(m["year"])
        if any(y == year for y, _ in years):
            raise DeliveryError(
                Problem(dataset, file, 3, label, "each year once", Plain(f"year {year} twice"))
            )
        years.append((year, bool(m["before"] or m["after"])))
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
