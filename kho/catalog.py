"""The dataset catalog: one YAML file per dataset under ``catalog/<agency>/<dataset>.yml``.

The catalog is the single declaration of what a dataset is: who owns it, how open it is, where it
comes from, which columns it delivers and how it is published. DAGs, landing, quality checks and the
publisher all read it through :func:`load_catalog`.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kho.settings import REPO

# KHO_CATALOG_DIR points Kho at another catalog (benchmarks scale it to hundreds of datasets).
CATALOG_DIR = Path(os.environ.get("KHO_CATALOG_DIR") or REPO / "catalog")
# libyaml's safe loader when present: parsing the catalog is most of a DAG file's parse time.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
IDENT = re.compile(r"^[a-z][a-z0-9_]{1,62}$")


class CatalogError(ValueError):
    """A catalog file is missing, unreadable or does not match the schema."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agency(Strict):
    id: str
    name_vi: str
    name_en: str
    description_vi: str = ""
    description_en: str = ""
    email: str | None = None

    @field_validator("id")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not IDENT.match(v):
            raise ValueError("must be lower_snake_case (letters, digits, _), 2-63 characters")
        return v


ColumnType = Literal["text", "integer", "numeric", "boolean", "date", "timestamp"]


class Column(Strict):
    name: str
    type: ColumnType = "text"
    unit: str | None = None
    required: bool = False
    key: bool = False
    personal_data: bool = False
    # address: a free-text address; its commune and province are read out of it (kho/landing/addresses.py)
    match: Literal["area", "province", "commune", "address"] | None = None
    description_vi: str | None = None
    description_en: str | None = None
    # Tabular deliveries (csv, xlsx): the headers this column may carry besides its name, as the agency
    # writes them ("Tên đơn vị", "Lúa đông xuân / Diện tích (ha)"); compared ignoring case, accents,
    # spacing and punctuation.
    source_names: list[str] = []
    # Extra strptime formats tried first for a date or timestamp column ("%m/%Y").
    formats: list[str] = []

    @field_validator("name")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not IDENT.match(v):
            raise ValueError("must be lower_snake_case (letters, digits, _), 2-63 characters")
        return v


class Source(Strict):
    kind: Literal["inbox", "http", "database"] = "inbox"
    format: Literal["pxweb", "csv", "xlsx", "json", "jsonl"] = "csv"
    # http: the URL; ${NAME} is read from the environment (KHO_AGENCY_API_URL defaults to the local
    # stand-in, see kho/delivering/http.py).
    location: str | None = None
    encoding: str = "auto"
    sheet: str | int | None = None
    header_rows: int = 1
    # Tabular deliveries (csv, xlsx); see kho/landing/readers/tabular.py. (`sheet` above: a name, or a position
    # counting from 1; unset: the first visible sheet.)
    delimiter: Literal[",", ";", "\t", "|"] | None = None  # csv: else sniffed from the header
    decimal_separator: Literal[",", "."] | None = None  # else learned from the file's unambiguous numbers
    skip_rows: int | None = Field(None, ge=0)  # rows above the header; else the header is searched for
    ignore_columns: list[str] = []  # delivered headers not landed ("STT")
    section_column: str | None = None  # catalog column receiving section headings ("I. VẬT LIỆU ...")
    footer_pattern: str | None = None  # regex: the first row whose first cell matches ends the table
    sheets: Literal["all"] | None = None  # xlsx: every visible sheet (one per month) instead of `sheet`
    skip_sheets: list[str] = []  # xlsx with sheets: all: sheets left out ("Tổng hợp")
    sheet_column: str | None = None  # xlsx with sheets: all: catalog column receiving the sheet name
    # http (see kho/delivering/http.py): "page" asks for ?page=1,2... until the answer's total_pages.
    pagination: Literal["none", "page"] = "none"
    page_size: int = Field(100, ge=1, le=10_000)
    timeout_s: float = Field(30, gt=0, le=600)  # per request, connecting to last byte
    retries: int = Field(3, ge=0, le=10)  # further attempts after a 5xx, 429 or timeout
    # Fetched sources (http, database): the whole fetch (every page, retry and wait) gives up after
    # deadline_s, and is refused past max_bytes; HTTP redirects are followed to the same origin only,
    # or to these hosts ("host" or "host:port").
    deadline_s: float = Field(1800, gt=0, le=86_400)
    max_bytes: int = Field(512 * 1024 * 1024, ge=1)
    allow_redirect_hosts: list[str] = []
    # kind: database (see kho/delivering/database.py): the agency system's database, as a URL or a settings
    # placeholder ("${KHO_PORTAL_URL}", resolved from settings, else the environment, when the query runs),
    # and the SELECT whose result is the delivery: one column per catalog column, by name.
    connection: str | None = None
    query: str | None = None

    @field_validator("footer_pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return v

    @model_validator(mode="after")
    def _database(self) -> Source:
        if self.kind == "database" and not (self.connection and self.query):
            raise ValueError("kind 'database' needs both 'connection' and 'query'")
        return self


class Quality(Strict):
    max_quarantine_share: float = Field(0.2, ge=0, le=1)
    on_invalid_value: Literal["refuse", "quarantine"] = "quarantine"


class Publish(Strict):
    model: str
    resource_name_vi: str | None = None
    resource_name_en: str | None = None
    # The portal's temporal and spatial coverage (publishers/metadata.py): the mart column holding the
    # period (a year, a date, or text such as 2024-03 / 2024-Q1) and the one holding administrative unit
    # codes. Unset: the first conventional name the mart has (year, month, period_start, ... /
    # commune_code_2025, province_code, ...); "none" turns the coverage off.
    period_column: str | None = None
    area_column: str | None = None
    # Who lets a delivery with warnings (raw or mart) or revisions beyond the raw suite's threshold out:
    # "automatic" publishes it (the gate stops critical failures only); "steward" makes the warehouse run
    # wait for a data steward's Approve or Reject in Airflow's UI (kho/validating/approval.py). A delivery
    # with no finding is published without waiting either way.
    approval: Literal["automatic", "steward"] = "automatic"


Frequency = Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
# The EU data themes (http://publications.europa.eu/resource/authority/data-theme), which DCAT-AP
# portals and data.europa.eu file datasets under: agriculture, economy, education, energy, environment,
# government, health, international, justice, regions and cities, society, science and technology, transport.
Theme = Literal[
    "AGRI", "ECON", "EDUC", "ENER", "ENVI", "GOVE", "HEAL", "INTR", "JUST", "REGI", "SOCI", "TECH", "TRAN"
]

SCHEDULES: dict[str, str] = {
    "daily": "@daily",
    "weekly": "@weekly",
    "monthly": "@monthly",
    "quarterly": "@quarterly",
    "yearly": "@yearly",
}


class Dataset(Strict):
    id: str
    agency: str
    title_vi: str
    title_en: str
    description_vi: str
    description_en: str
    classification: Literal["open", "shared", "restricted"]
    licence: str
    update_frequency: Frequency
    tags: list[str] = []
    themes: list[Theme] = []  # EU data themes, published as dcat:theme
    source: Source
    columns: list[Column]
    quality: Quality = Quality()
    publish: Publish | None = None
    # Days the delivered files (archive) and quarantined rows are kept before `kho purge` deletes them;
    # required when a column holds personal data (Decree 13/2023/ND-CP: kept no longer than needed).
    retention_days: int | None = Field(None, ge=1)
    # Where its names are matched: 2025 province codes (["08"], ["08", "96"]), or "national"; unset: the
    # platform's province (dbt var kho_province_code). A province written in an address wins over it.
    scope: list[str] | Literal["national"] | None = None
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("id")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not IDENT.match(v):
            raise ValueError("must be lower_snake_case (letters, digits, _), 2-63 characters")
        return v

    @field_validator("scope")
    @classmethod
    def _provinces(cls, v: list[str] | str | None) -> list[str] | str | None:
        if isinstance(v, list) and (not v or not all(re.fullmatch(r"\d\d", code) for code in v)):
            raise ValueError("must be 'national' or a list of 2-digit province codes (2025), e.g. ['08']")
        return v

    @property
    def raw_schema(self) -> str:
        return f"raw_{self.agency}"

    @property
    def raw_table(self) -> str:
        return self.id

    @property
    def schedule(self) -> str:
        return SCHEDULES[self.update_frequency]

    @property
    def is_open(self) -> bool:
        return self.classification == "open"

    @property
    def personal_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.personal_data]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


class Catalog(BaseModel):
    agencies: dict[str, Agency]
    datasets: dict[str, Dataset]

    def dataset(self, dataset_id: str) -> Dataset:
        try:
            return self.datasets[dataset_id]
        except KeyError:
            known = ", ".join(sorted(self.datasets)) or "none"
            raise CatalogError(f"unknown dataset '{dataset_id}' (catalog has: {known})") from None


def _describe(err: ValidationError, path: Path) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"])
        parts.append(f"{path}: field '{where}': {e['msg']}")
    return "\n".join(parts)


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """One line: the file, the line and column (counted from 1) and what the parser found there."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start:
        context += f" that starts at line {start.line + 1}"
    return f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise CatalogError(_yaml_problem(path, exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top level, found {type(data).__name__}")
    return data


def load_catalog(directory: Path | None = None) -> Catalog:
    """Read and validate every catalog file; raise :class:`CatalogError` listing all problems."""
    directory = directory or CATALOG_DIR
    problems: list[str] = []
    agencies: dict[str, Agency] = {}
    agencies_file = directory / "agencies.yml"
    if agencies_file.exists():
        for i, raw in enumerate(_read_yaml(agencies_file).get("agencies", [])):
            try:
                agency = Agency(**raw)
                agencies[agency.id] = agency
            except ValidationError as exc:
                problems.append(_describe(exc, agencies_file).replace("field '", f"field 'agencies.{i}.", 1))
    else:
        problems.append(f"{agencies_file}: missing (every catalog needs its list of agencies)")

    datasets: dict[str, Dataset] = {}
    for path in sorted(directory.glob("*/*.yml")):
        try:
            ds = Dataset(**_read_yaml(path), path=path)
        except ValidationError as exc:
            problems.append(_describe(exc, path))
            continue
        except CatalogError as exc:
            problems.append(str(exc))
            continue
        if ds.id != path.stem:
            problems.append(f"{path}: field 'id': '{ds.id}' must match the file name '{path.stem}'")
        if ds.agency != path.parent.name:
            problems.append(
                f"{path}: field 'agency': '{ds.agency}' must match the folder '{path.parent.name}'"
            )
        if ds.agency not in agencies:
            problems.append(f"{path}: field 'agency': '{ds.agency}' is not declared in {agencies_file.name}")
        if ds.personal_columns and ds.retention_days is None:
            problems.append(
                f"{path}: field 'retention_days': required, as columns hold personal data"
                f" ({', '.join(ds.personal_columns)}): how many days delivered files and quarantined rows are kept"
            )
        if ds.id in datasets:
            problems.append(f"{path}: field 'id': '{ds.id}' is already declared in {datasets[ds.id].path}")
        datasets[ds.id] = ds
    if problems:
        raise CatalogError("\n".join(problems))
    return Catalog(agencies=agencies, datasets=datasets)


@cache
def catalog() -> Catalog:
    """The repository's catalog, read once per process."""
    return load_catalog()
