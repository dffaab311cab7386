# ruff: noqa: S608 - the SQL written here is dbt model text for a person to read, never run from Python
"""``kho dataset new``: onboard an agency's dataset from one sample delivery, with no Python to write.

The sample (CSV or XLSX, read with landing's own decoding and workbook reading) gives the columns: each
header becomes a snake_case ASCII id, the Vietnamese header is kept as the column's source name (what
landing maps) and label; the values give the type, whether it is required, the key, and which columns hold
communes, provinces, addresses, dates or personal data (person names, phones, e-mail: marked personal,
never published). From that, every file the dataset needs is written:

- ``catalog/<agency>/<dataset>.yml`` with ``classification: shared``: read by the agencies, never published,
  until a person sets it ``open``;
- ``dbt_project/models/staging/<agency>/stg_<agency>__<dataset>.{sql,yml}`` (rename, every load),
  ``models/intermediate/int_<dataset>__latest.{sql,yml}`` (each key as the latest delivery has it, personal
  columns left out, communes and addresses matched within the dataset's scope) and
  ``models/marts/dim_<dataset>.{sql,yml}`` (public, with an enforced contract);
- ``expectations/<dataset>/{raw,mart}.yml``;
- then the generated files (the dbt source, groups, grants, vars: :mod:`kho.conforming.sync`).

What it infers is a first draft for a person to read, not a verdict: the files are plain and meant to be
edited (docs/adding-a-dataset.md).
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import yaml

from kho.catalog import CATALOG_DIR, IDENT, Catalog, Column, Dataset, load_catalog
from kho.errors import KhoError
from kho.landing.areas import check_name
from kho.landing.land import PG_TYPES
from kho.landing.readers.csv_reader import DELIMITERS, csv_rows, decoded_lines
from kho.landing.readers.tabular import FOOTNOTE, header_key, is_numbering
from kho.landing.values import MISSING, Decimals, Invalid, cell_text, clean_text, convert_text
from kho.settings import REPO

SAMPLE_ROWS = 5000  # rows read from the sample to infer types (enough for any register's shape)
HEADER_ROWS = 20
PHONE = re.compile(r"^(?:\+?84|0)\d{8,10}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
UNIT = re.compile(r"\(([^()]{1,20})\)\s*$")
# Headers (as header_key writes them) that announce personal data: a person's name, phone, e-mail, ids.
PERSONAL_WORDS = (
    "ho ten", "ho va ten", "nguoi phu trach", "nguoi dai dien", "nguoi lien he", "nguoi quan ly",
    "chu ho", "chu so huu", "dien thoai", "sdt", "so dt", "email", "e mail", "cccd", "cmnd", "can cuoc",
    "ngay sinh", "phone", "contact person",
)  # fmt: skip
KEY_WORDS = ("ma", "ma so", "so hieu", "id", "code", "ky hieu")
NUMBERING_HEADERS = {"stt", "tt", "so tt", "so thu tu"}


class ScaffoldError(KhoError):
    """The sample or the options do not allow a dataset to be written."""


@dataclass
class Inferred:
    """One column as the sample shows it."""

    header: str
    column: Column
    why: list[str] = field(default_factory=list)  # what the inference rests on, shown to the person


@dataclass
class Sample:
    format: str  # csv | xlsx
    headers: list[str]
    rows: list[list[object]]  # cells per header position (text, or typed Excel values)
    header_line: int


# --- reading the sample ---------------------------------------------------------------------------------


def _filled(cells: list[object]) -> list[str]:
    return [clean_text(cell_text(c)) if c is not None else "" for c in cells]


def _header_at(rows: list[list[object]]) -> int:
    """The first of the top rows that reads as a header: the widest row of text labels, none a number."""
    widths = [sum(1 for t in _filled(r) if t) for r in rows[:HEADER_ROWS]]
    widest = max(widths, default=0)
    for i, row in enumerate(rows[:HEADER_ROWS]):
        texts = [t for t in _filled(row) if t]
        if len(texts) >= max(2, widest * 0.6) and not any(_numberlike(t) for t in texts):
            return i
    raise ScaffoldError("the sample has no header row in its first 20 rows (a row of column names)")


def _numberlike(text: str) -> bool:
    return bool(re.fullmatch(r"[\d.,\s/-]+", text))


def read_sample(path: Path, dataset_id: str) -> Sample:
    """The header and data rows of a sample, read as landing reads deliveries (encodings, workbooks)."""
    suffix = path.suffix.lower()
    name = path.name
    if not path.is_file():
        raise ScaffoldError(f"{path}: no such file")
    if suffix in (".xlsx", ".xlsm", ".xls"):
        from kho.landing.readers.excel import _filled_down, _open, identify, vet_xlsx

        if identify(path, dataset_id, name) == "xlsx":
            vet_xlsx(path, dataset_id, name)
        with _open(path, dataset_id, name) as wb:
            sheet = wb.get_sheet_by_name(wb.sheet_names[0])
            if sheet.start is None:
                raise ScaffoldError(f"{name}: the first sheet is empty")
            rows = [row.cells for row in islice(_filled_down(sheet, []), SAMPLE_ROWS + HEADER_ROWS)]
        fmt = "xlsx"
    else:
        with path.open("rb") as stream:
            lines = list(islice(decoded_lines(stream, dataset_id, name), SAMPLE_ROWS + HEADER_ROWS))
        delimiter = max(
            DELIMITERS,
            key=lambda d: _consistency([r.cells for r in csv_rows(lines[:HEADER_ROWS], d, "", "")]),
        )
        rows = [r.cells for r in csv_rows(lines, delimiter, dataset_id, name)]
        fmt = "csv"
    at = _header_at(rows)
    headers = _filled(rows[at])
    data = []
    for row in rows[at + 1 :]:
        texts = _filled(row)
        if sum(1 for t in texts if t) < 2:
            continue  # an empty line, a heading
        if texts and FOOTNOTE.match(texts[0]):
            break
        data.append(list(row) + [""] * (len(headers) - len(row)))
    if not data:
        raise ScaffoldError(f"{name}: no data row under the header (line {at + 1})")
    return Sample(fmt, headers, data, at + 1)


def _consistency(rows: list[list[str]]) -> int:
    """How well a delimiter splits the first rows: rows of the same width > 1 count."""
    widths = [len(r) for r in rows if any(c.strip() for c in r)]
    if not widths:
        return 0
    common = max(set(widths), key=widths.count)
    return widths.count(common) * (common > 1) * common


# --- inferring columns ------------------------------------------------------------------------------------


def column_id(header: str, taken: set[str]) -> str:
    """snake_case ASCII id of a Vietnamese header: "Tên di tích" -> ten_di_tich, "Diện tích (m2)" -> dien_tich_m2."""
    base = header_key(header).replace(" ", "_")[:60].strip("_") or "column"
    if not base[0].isalpha():
        base = f"c_{base}"
    name, n = base, 2
    while name in taken or not IDENT.match(name):
        name = f"{base}_{n}"[:63]
        n += 1
    taken.add(name)
    return name


def _type_of(values: list[object]) -> str:
    """The narrowest catalog type every value of the sample converts to."""
    present = [v for v in values if not (isinstance(v, str) and clean_text(v) in MISSING) and v is not None]
    if not present:
        return "text"
    if all(isinstance(v, dt.datetime | dt.date) for v in present):
        return (
            "date"
            if all(not isinstance(v, dt.datetime) or v.time() == dt.time() for v in present)
            else "timestamp"
        )
    texts = [clean_text(cell_text(v)) for v in present]
    if any(re.fullmatch(r"0\d+", t.replace(" ", "").replace(".", "")) for t in texts):
        return "text"  # leading zeros: codes and phone numbers, not quantities
    for kind in ("integer", "numeric", "date", "timestamp"):
        probe = Column(name="probe", type=kind)
        decimals = Decimals()
        try:
            for v in present:
                if isinstance(v, str):
                    convert_text(clean_text(v), probe, decimals)
                elif kind in ("integer", "numeric") and not isinstance(v, int | float):
                    raise Invalid("a number")
                elif kind == "integer" and isinstance(v, float) and not v.is_integer():
                    raise Invalid("a whole number")
                elif kind in ("date", "timestamp") and not isinstance(v, dt.date):
                    raise Invalid("a date")
        except (Invalid, ValueError, ArithmeticError):
            continue
        return kind
    return "text"


def _has_words(key: str, words: tuple[str, ...] | set[str]) -> bool:
    padded = f" {key} "
    return any(f" {w} " in padded for w in words)


def _match_of(key: str, texts: list[str]) -> str | None:
    """commune, province or address, from the header and confirmed by the values."""
    if _has_words(key, ("dia chi", "address")):
        return "address"
    if key in ("tinh", "tinh thanh pho", "ten tinh", "tinh tp", "province"):
        kind = "province"
    elif _has_words(key, ("xa", "phuong", "xa phuong", "commune", "ward")) and not _has_words(key, ("so",)):
        kind = "commune"
    else:
        return None
    known = sum(1 for t in texts[:200] if check_name(kind, t)[1] is None)
    return kind if texts and known >= 0.6 * min(len(texts), 200) else None


def infer_columns(sample: Sample, key: str | None = None) -> tuple[list[Inferred], list[str]]:
    """The sample's columns as catalog columns, and the headers left out (row numbering: STT)."""
    taken: set[str] = set()
    inferred, ignored = [], []
    for pos, header in enumerate(sample.headers):
        if not header:
            continue
        values = [row[pos] if pos < len(row) else "" for row in sample.rows]
        texts = [clean_text(cell_text(v)) for v in values if v is not None]
        texts = [t for t in texts if t not in MISSING]
        hkey = header_key(header)
        if hkey in NUMBERING_HEADERS or (pos == 0 and texts and is_numbering(texts)):
            ignored.append(header)
            continue
        why = []
        kind = _type_of(values)
        unit_match = UNIT.search(header)
        unit = unit_match[1].strip() if unit_match and kind in ("integer", "numeric") else None
        match = _match_of(hkey, texts) if kind == "text" else None
        if match:
            why.append(f"{match} names")
        personal = _has_words(hkey, PERSONAL_WORDS)
        compact = [re.sub(r"[\s.()-]", "", t) for t in texts]
        if texts and sum(bool(PHONE.match(t)) for t in compact) >= 0.8 * len(texts):
            personal, kind = True, "text"
            why.append("phone numbers")
        if texts and sum(bool(EMAIL.match(t)) for t in texts) >= 0.8 * len(texts):
            personal = True
            why.append("e-mail addresses")
        if personal:
            match = None
            why.append("personal data")
        required = len(texts) == len(values)
        english = {
            "commune": "Commune or ward as written",
            "province": "Province as written",
            "address": "Address as written",
        }.get(match or "", f"'{header}' as the agency writes it")
        if personal:
            english += " (personal data)"
        column = Column(
            name=column_id(header, taken),
            type=kind,
            unit=unit,
            required=required,
            personal_data=personal,
            match=match,
            description_vi=header,
            description_en=english,
            source_names=[header],
        )
        why.append(kind + (", required" if required else ""))
        inferred.append(Inferred(header, column, why))
    if not inferred:
        raise ScaffoldError("the sample has no column to land")
    _choose_key(inferred, sample, key)
    return inferred, ignored


def _choose_key(inferred: list[Inferred], sample: Sample, key: str | None) -> None:
    """Mark the key: ``key`` if given (an id or a header), else the first column whose values are all
    present and distinct, preferring one named like a code ("Mã di tích", "Số hiệu")."""
    by_position = {i.header: pos for pos, i in enumerate(inferred)}
    positions = {i.header: sample.headers.index(i.header) for i in inferred}

    def distinct(i: Inferred) -> bool:
        values = [clean_text(cell_text(r[positions[i.header]])) for r in sample.rows]
        return all(v not in MISSING for v in values) and len(set(values)) == len(values)

    if key is not None:
        chosen = [i for i in inferred if key in (i.column.name, i.header)]
        if not chosen:
            raise ScaffoldError(
                f"--key {key!r}: no such column; the sample has: {', '.join(i.column.name for i in inferred)}"
            )
        if not distinct(chosen[0]):
            raise ScaffoldError(f"--key {key!r}: its values in the sample are not all present and distinct")
    else:
        candidates = [
            i for i in inferred if not i.column.personal_data and i.column.type in ("text", "integer")
        ]
        named = [i for i in candidates if _has_words(header_key(i.header), KEY_WORDS)]
        chosen = [i for i in named + candidates if distinct(i)][:1]
        if not chosen:
            raise ScaffoldError(
                "no column of the sample has a value on every row, all distinct: name the key with --key COLUMN"
            )
    i = chosen[0]
    i.column = i.column.model_copy(update={"key": True, "required": True})
    i.why.append("the key")
    inferred.insert(0, inferred.pop(by_position[i.header]))  # the key first, as the catalog lists it


# --- writing the files ---------------------------------------------------------------------------------


@dataclass
class Plan:
    dataset: Dataset
    inferred: list[Inferred]
    files: dict[Path, str]


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10_000)
    return text.strip().removesuffix("...").strip()  # a plain scalar ends its document with "..."


def _column_entry(c: Column) -> dict:
    entry: dict = {"name": c.name, "type": c.type}
    if c.unit:
        entry["unit"] = c.unit
    if c.required:
        entry["required"] = True
    if c.key:
        entry["key"] = True
    if c.personal_data:
        entry["personal_data"] = True
    if c.match:
        entry["match"] = c.match
    entry |= {
        "description_vi": c.description_vi,
        "description_en": c.description_en,
        "source_names": c.source_names,
    }
    return entry


def catalog_yml(ds: Dataset, sample_name: str, ignored: list[str]) -> str:
    text = [
        f"# Written by `kho dataset new` from the sample {sample_name}: read it, correct what the sample could",
        "# not tell (titles, descriptions, key, required columns), then set classification: open to publish it.",
        f"id: {ds.id}",
        f"agency: {ds.agency}",
        f"title_vi: {_flow(ds.title_vi)}",
        f"title_en: {_flow(ds.title_en)}",
        f"description_vi: {_flow(ds.description_vi)}",
        f"description_en: {_flow(ds.description_en)}",
        "# shared: every agency reads it in the warehouse, nothing is published. open: published to CKAN.",
        f"classification: {ds.classification}",
        f"licence: {ds.licence}",
        f"update_frequency: {ds.update_frequency}",
        f"tags: {_flow(ds.tags)}",
        "source:",
        "  kind: inbox",
        f"  format: {ds.source.format}",
        "  encoding: auto",
    ]
    if ignored:
        text.append(f"  ignore_columns: {_flow(ignored)}   # row numbering")
    text.append("columns:")
    text += [f"  - {_flow(_column_entry(c))}" for c in ds.columns]
    if ds.retention_days:
        text += [
            "# Personal data: delivered files and quarantined rows are deleted after this many days (kho purge).",
            f"retention_days: {ds.retention_days}",
        ]
    text += [
        "quality:",
        f"  max_quarantine_share: {ds.quality.max_quarantine_share}",
        f"  on_invalid_value: {ds.quality.on_invalid_value}",
        "publish:",
        f"  model: {ds.publish.model}",
        f"  resource_name_vi: {_flow(ds.publish.resource_name_vi)}",
        f"  resource_name_en: {_flow(ds.publish.resource_name_en)}",
    ]
    return "\n".join(text) + "\n"


CONTRACT_TYPES = {"timestamp": "timestamptz"}


def _desc(c: Column, suffix: str = "") -> str:
    unit = f" ({c.unit})" if c.unit else ""
    return f"{c.description_vi}{unit}{suffix} / {c.description_en}{unit}{suffix}"


def _yml(data: dict) -> str:
    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False):
            return super().increase_indent(flow, False)

    return yaml.dump(data, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=110)


def _comment(text: str) -> str:
    """SQL comment lines within sqlfluff's line length."""
    return "".join(f"-- {line}\n" for line in textwrap.wrap(" ".join(text.split()), 100))


def _sql_list(names: list[str], indent: int = 8) -> str:
    pad = " " * indent
    return ",\n".join(f"{pad}{n}" for n in names)


def staging_files(ds: Dataset) -> dict[str, str]:
    name = f"stg_{ds.agency}__{ds.id}"
    cols = []
    for c in ds.columns:
        cols.append(c.name + ("  -- personal data" if c.personal_data else ""))
        if c.match:
            cols.append(f"{c.name}_key")
    body = ",\n".join(f"        {c}" if "--" not in c else f"        {c}" for c in cols)
    # a trailing comment must follow its comma
    body = re.sub(r"(\S+)  -- personal data,", r"\1,  -- personal data", body)
    head = _comment(
        f"{ds.title_en}: every load of {ds.raw_schema}.{ds.raw_table}, renamed (written by `kho dataset new`)."
    )
    sql = f"""{head}with

source as (

    select * from {{{{ source('{ds.agency}', '{ds.raw_table}') }}}}

),

renamed as (

    select
        _load_id as load_id,
        _source_row as source_row,
        _source_file as source_file,
{body},
        _loaded_at as loaded_at
    from source

)

select * from renamed
"""
    key = next(c for c in ds.columns if c.key)
    columns = [
        {
            "name": "load_id",
            "description": "Mã lần nạp (kho_meta.loads). / Load id (kho_meta.loads).",
            "data_tests": ["not_null"],
        },
        {"name": "source_row", "description": "Số dòng trong tệp nguồn. / Line or row in the source file."},
        {"name": "source_file", "description": "Tên tệp nguồn. / Source file name."},
    ]
    for c in ds.columns:
        entry: dict = {"name": c.name, "description": _desc(c)}
        if c.key:
            entry["data_tests"] = ["not_null"]
        if c.personal_data:
            entry["meta"] = {"personal_data": True}
        columns.append(entry)
        if c.match:
            columns.append(
                {
                    "name": f"{c.name}_key",
                    "description": f"Khóa so khớp của {c.name}. / Match key of {c.name}.",
                }
            )
    columns.append({"name": "loaded_at", "description": "Thời điểm nạp. / When the row was landed."})
    model = {
        "name": name,
        "description": f"{ds.title_vi}: mọi lần nạp, đã đổi tên cột. / {ds.title_en}: every load, columns renamed.",
        "data_tests": [
            {
                "unique_combination_of_columns": {
                    "arguments": {"combination_of_columns": ["load_id", key.name]}
                }
            }
        ],
        "columns": columns,
    }
    if ds.personal_columns:
        model["config"] = {"meta": {"classification": "restricted"}}
    return {
        f"staging/{ds.agency}/{name}.sql": sql,
        f"staging/{ds.agency}/{name}.yml": _yml({"models": [model]}),
    }


def _matched_columns(c: Column) -> list[tuple[str, str, str, str]]:
    """(name, type, description) of what matching adds for a matched column."""
    out = [
        (f"{c.name}_code_2025", "text", f"Mã xã (2025) của {c.name}", f"Commune code (2025) of {c.name}"),
        (f"{c.name}_name_2025", "text", f"Tên xã (2025) của {c.name}", f"Commune name (2025) of {c.name}"),
    ]
    if c.match == "address":
        out.append(
            (
                f"{c.name}_province_code",
                "text",
                f"Mã tỉnh (2025) của {c.name}",
                f"Province code (2025) of {c.name}",
            )
        )
    out.append(
        (
            f"{c.name}_match_status",
            "text",
            f"Kết quả so khớp {c.name} (matched, ambiguous, split, unknown, out_of_scope)",
            f"How {c.name} matched (matched, ambiguous, split, unknown, out_of_scope)",
        )
    )
    return out


def open_columns(ds: Dataset) -> list[tuple[str, str, str, str, Column | None]]:
    """The intermediate's and mart's columns: (name, catalog type, vi, en, catalog column or None)."""
    out = []
    for c in ds.columns:
        if c.personal_data:
            continue
        out.append((c.name, c.type, c.description_vi or c.name, c.description_en or c.name, c))
        if c.match in ("commune", "address"):
            out += [(*m, None) for m in _matched_columns(c)]
    return out


def intermediate_files(ds: Dataset) -> dict[str, str]:
    name = f"int_{ds.id}__latest"
    staging = f"stg_{ds.agency}__{ds.id}"
    key = next(c for c in ds.columns if c.key)
    kept = [c.name for c in ds.columns if not c.personal_data]
    kept += [f"{c.name}_key" for c in ds.columns if c.match and not c.personal_data]
    ctes = [
        f"""delivered as (

    -- every column but the personal ones ({", ".join(ds.personal_columns) or "none"}): they stay in staging
    select
        load_id,
{_sql_list(kept)},
        loaded_at
    from {{{{ ref('{staging}') }}}}

)""",
        f"""ranked as (

    -- rows of one load share a rank: a key listed twice in one delivery stays visible to the key test
    select
        *,
        dense_rank() over (partition by {key.name} order by loaded_at desc, load_id desc) as load_rank
    from delivered

)""",
        f"""latest as (

    select
{_sql_list(kept)}
    from ranked
    where load_rank = 1

)""",
    ]
    previous, columns = "latest", list(kept)
    for c in ds.columns:
        if c.personal_data or c.match not in ("commune", "address"):
            continue
        call = (
            f"{{{{ kho_match_communes('{previous}', name_key='{c.name}_key', name='{c.name}', dataset='{ds.id}') }}}}"
            if c.match == "commune"
            else f"{{{{ kho_match_addresses('{previous}', key='{c.name}_key', dataset='{ds.id}') }}}}"
        )
        ctes.append(f"{c.name}_matching as (\n\n    {call}\n\n)")
        added = [
            f"match_code_2025 as {c.name}_code_2025",
            f"match_name_2025 as {c.name}_name_2025",
        ]
        if c.match == "address":
            added.append(f"match_province_code as {c.name}_province_code")
        added.append(f"match_status as {c.name}_match_status")
        ctes.append(
            f"{c.name}_matched as (\n\n    select\n{_sql_list(columns + added)}\n    from {c.name}_matching\n\n)"
        )
        columns += [a.rpartition(" as ")[2] for a in added]
        previous = f"{c.name}_matched"
    sql = (
        _comment(
            f"{ds.title_en}: each {key.name} as the latest delivery listing it, without personal data;"
            " communes and addresses matched within the dataset's scope (written by `kho dataset new`)."
        )
        + "with\n\n"
        + ",\n\n".join(ctes)
        + f"\n\nselect * from {previous}\n"
    )
    docs = []
    for col, _kind, vi, en, c in open_columns(ds):
        entry: dict = {"name": col, "description": _desc(c) if c else f"{vi}. / {en}."}
        if c is not None and c.key:
            entry["data_tests"] = ["unique", "not_null"]
        docs.append(entry)
        if c is not None and c.match:
            docs.append(
                {
                    "name": f"{c.name}_key",
                    "description": f"Khóa so khớp của {c.name}. / Match key of {c.name}.",
                }
            )
    model = {
        "name": name,
        "description": f"{ds.title_vi}: mỗi {key.name} theo lần gửi mới nhất, không có dữ liệu cá nhân. / "
        f"{ds.title_en}: each {key.name} as the latest delivery has it, without personal data.",
        "columns": docs,
    }
    return {f"intermediate/{name}.sql": sql, f"intermediate/{name}.yml": _yml({"models": [model]})}


def mart_files(ds: Dataset) -> dict[str, str]:
    name = ds.publish.model
    key = next(c for c in ds.columns if c.key)
    cols = open_columns(ds)
    sql = (
        _comment(
            f"{ds.title_en}: the shared table (published once the catalog says open). Columns listed one by"
            " one: personal data never reaches it (written by `kho dataset new`)."
        )
        + "with\n\n"
        f"latest as (\n\n    select * from {{{{ ref('int_{ds.id}__latest') }}}}\n\n),\n\n"
        f"final as (\n\n    select\n{_sql_list([c[0] for c in cols])}\n    from latest\n\n)\n\n"
        "select * from final\n"
    )
    docs = []
    for col, kind, vi, en, c in cols:
        entry: dict = {
            "name": col,
            "description": _desc(c) if c else f"{vi}. / {en}.",
            "data_type": CONTRACT_TYPES.get(kind, PG_TYPES[kind]),
        }
        if c is not None and c.key:
            entry["constraints"] = [{"type": "not_null"}]
            entry["data_tests"] = ["unique", "not_null"]
        if col.endswith("_code_2025"):
            entry["data_tests"] = [
                {"relationships": {"arguments": {"to": "ref('dim_admin_unit')", "field": "code_2025"}}}
            ]
        docs.append(entry)
    model = {
        "name": name,
        "description": f"{ds.title_vi}: bảng dùng chung, mỗi {key.name} một dòng theo lần gửi mới nhất; không có"
        f" dữ liệu cá nhân. / {ds.title_en}: the shared table, one row per {key.name} as last delivered; no"
        " personal data.",
        "config": {"access": "public", "contract": {"enforced": True}},
        "constraints": [{"type": "primary_key", "columns": [key.name]}],
        "columns": docs,
    }
    return {f"marts/{name}.sql": sql, f"marts/{name}.yml": _yml({"models": [model]})}


def _expectation(kind: str, kwargs: dict, severity: str, why: str) -> dict:
    return {"expectation": kind, "kwargs": kwargs, "severity": severity, "why": why}


def expectation_files(ds: Dataset) -> dict[str, str]:
    key = next(c for c in ds.columns if c.key)
    raw = [
        _expectation(
            "expect_table_row_count_to_be_between",
            {"min_value": 1},
            "critical",
            "An empty load means the file was not read.",
        ),
        _expectation(
            "expect_column_values_to_not_be_null",
            {"column": "_load_id"},
            "critical",
            "Every landed row traces back to its delivery.",
        ),
        _expectation(
            "expect_column_values_to_be_unique",
            {"column": key.name},
            "critical",
            f"{key.name} is the key: a row listed twice would be published twice.",
        ),
    ]
    for c in ds.columns:
        if c.required:
            raw.append(
                _expectation(
                    "expect_column_values_to_not_be_null",
                    {"column": c.name},
                    "critical",
                    f"Required in the catalog ('{c.source_names[0] if c.source_names else c.name}').",
                )
            )
    matched = [c for c in ds.columns if c.match in ("commune", "address") and not c.personal_data]
    mart_cols = [c[0] for c in open_columns(ds)]
    mart = [
        _expectation(
            "expect_table_row_count_to_be_between",
            {"min_value": 1},
            "critical",
            "A published table has rows.",
        ),
        _expectation(
            "expect_table_columns_to_match_set",
            {"column_set": mart_cols, "exact_match": True},
            "critical",
            "Exactly these columns, none of them personal data"
            + (
                f" ({', '.join(ds.personal_columns)} stay in raw and staging)."
                if ds.personal_columns
                else "."
            ),
        ),
        _expectation(
            "expect_column_values_to_be_unique", {"column": key.name}, "critical", "One row per key."
        ),
        _expectation(
            "expect_column_values_to_not_be_null", {"column": key.name}, "critical", "One row per key."
        ),
    ]
    for c in matched:
        mart.append(
            _expectation(
                "expect_column_values_to_not_be_null",
                {"column": f"{c.name}_code_2025", "mostly": 0.9},
                "warning",
                f"Most {c.name} values name one commune of the dataset's scope; `kho match-report` lists the rest.",
            )
        )
    head = f"# Written by `kho dataset new` for {ds.id}: add the rules the agency's data must follow. Format: expectations/README.md.\n"
    return {
        "raw.yml": f"# Expectations on {ds.raw_schema}.{ds.raw_table}, checked per load.\n"
        + head
        + _yml({"expectations": raw}),
        "mart.yml": f"# Expectations on marts.{ds.publish.model}, the gate before publishing.\n"
        + head
        + _yml({"expectations": mart}),
    }


def plan(
    dataset_id: str,
    agency: str,
    sample_path: Path,
    *,
    cat: Catalog | None = None,
    title_vi: str | None = None,
    title_en: str | None = None,
    frequency: str = "yearly",
    key: str | None = None,
    repo: Path = REPO,
    catalog_dir: Path | None = None,
) -> Plan:
    """Every file a new dataset needs, from its sample; nothing is written."""
    cat = cat or load_catalog()
    if not IDENT.match(dataset_id):
        raise ScaffoldError(
            f"dataset id {dataset_id!r}: lower_snake_case letters, digits and _, 2-63 characters"
        )
    if dataset_id in cat.datasets:
        raise ScaffoldError(f"dataset {dataset_id!r} already exists: {cat.datasets[dataset_id].path}")
    if agency not in cat.agencies:
        raise ScaffoldError(
            f"agency {agency!r} is not in catalog/agencies.yml (has: {', '.join(sorted(cat.agencies))}): add it there first"
        )
    sample = read_sample(sample_path, dataset_id)
    inferred, ignored = infer_columns(sample, key)
    columns = [i.column for i in inferred]
    owner = cat.agencies[agency]
    title_vi = title_vi or f"Dữ liệu {dataset_id.replace('_', ' ')} của {owner.name_vi}"
    title_en = title_en or f"{dataset_id.replace('_', ' ').capitalize()} of the {owner.name_en}"
    personal = [c.name for c in columns if c.personal_data]
    ds = Dataset(
        id=dataset_id,
        agency=agency,
        title_vi=title_vi,
        title_en=title_en,
        description_vi=f"{title_vi}. Tạo từ tệp mẫu {sample_path.name}; mỗi lần gửi là toàn bộ danh sách."
        + (
            f" Các cột {', '.join(personal)} là dữ liệu cá nhân: chỉ ở lớp thô, không bao giờ xuất bản."
            if personal
            else ""
        ),
        description_en=f"{title_en}. Onboarded from the sample {sample_path.name}; each delivery is the whole list."
        + (
            f" Columns {', '.join(personal)} are personal data: raw layer only, never published."
            if personal
            else ""
        ),
        classification="shared",
        licence="cc-by-4.0",
        update_frequency=frequency,
        tags=[agency],
        source={"kind": "inbox", "format": sample.format, "encoding": "auto", "ignore_columns": ignored},
        columns=columns,
        retention_days=730 if personal else None,
        quality={"max_quarantine_share": 0.2, "on_invalid_value": "quarantine"},
        publish={
            "model": f"dim_{dataset_id}",
            "resource_name_vi": f"{title_vi} (CSV)",
            "resource_name_en": f"{title_en} (CSV)",
        },
    )
    models = repo / "dbt_project" / "models"
    files = {
        (catalog_dir or CATALOG_DIR) / agency / f"{dataset_id}.yml": catalog_yml(
            ds, sample_path.name, ignored
        )
    }
    for part in (staging_files(ds), intermediate_files(ds), mart_files(ds)):
        files |= {models / rel: text for rel, text in part.items()}
    files |= {repo / "expectations" / dataset_id / rel: text for rel, text in expectation_files(ds).items()}
    entry = yaml.safe_load(next(iter(files.values())))  # the catalog entry reads back as what was inferred
    if Dataset(**entry) != ds:
        raise ScaffoldError(f"{dataset_id}: the catalog entry written does not read back the same (a bug)")
    existing = [p for p in files if p.exists()]
    if existing:
        raise ScaffoldError("would overwrite " + ", ".join(str(p) for p in existing) + ": remove them first")
    return Plan(ds, inferred, files)


def write(p: Plan, echo: Callable[[str], None] = print) -> list[Path]:
    """Write the plan's files, then bring the generated dbt files in line (its source, grants, vars)."""
    from kho.catalog import catalog
    from kho.conforming.sync import sync

    for path, text in p.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        echo(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    catalog.cache_clear()
    sync(echo=echo)
    return list(p.files)
