"""What the portal says about a dataset, gathered from the catalog, the warehouse and the dbt docs.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import calendar
import json
import re
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from kho.catalog import Agency, Dataset
from kho.settings import Settings
from publishers.table import Table

# Conventional column names, tried in this order when the catalog does not name the column.
PERIOD_COLUMNS = ("period", "period_start", "month", "bulletin_month", "quarter_end", "date", "year")
AREA_COLUMNS = ("commune_code_2025", "commune_code", "unit_code", "province_code", "province_code_2025")
NONE = "none"  # publish.period_column / area_column: no coverage

FREQUENCY_VI = {
    "daily": "hằng ngày",
    "weekly": "hằng tuần",
    "monthly": "hằng tháng",
    "quarterly": "hằng quý",
    "yearly": "hằng năm",
}
# The EU Publications Office authority tables that DCAT-AP uses for frequency, language and access.
EU = "http://publications.europa.eu/resource/authority"
FREQUENCY_URI = {
    "daily": f"{EU}/frequency/DAILY",
    "weekly": f"{EU}/frequency/WEEKLY",
    "monthly": f"{EU}/frequency/MONTHLY",
    "quarterly": f"{EU}/frequency/QUARTERLY",
    "yearly": f"{EU}/frequency/ANNUAL",
}
LANGUAGES = [f"{EU}/language/VIE", f"{EU}/language/ENG"]
PUBLIC_ACCESS = f"{EU}/access-right/PUBLIC"
SHA256_ALGORITHM = "http://spdx.org/rdf/terms#checksumAlgorithm_sha256"
LEVEL_NAMES = {  # (Vietnamese, English) for "N units"
    "province": ("tỉnh, thành phố", "provinces and cities"),
    "district": ("huyện, quận, thị xã, thành phố thuộc tỉnh", "districts"),
    "commune": ("xã, phường, đặc khu", "communes, wards and special zones"),
    None: ("đơn vị hành chính", "administrative units"),
}
MAX_LISTED_LOADS = 50  # beyond this the provenance names the newest ones and counts the rest


# --- coverage ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Temporal:
    start: date
    end: date
    text: str  # "1995–2024", "01/2023–12/2024"


@dataclass(frozen=True)
class Spatial:
    units: int
    level: str | None  # province, district, commune; None when the codes are not known units
    place_vi: str  # "Cả nước", "Tỉnh Tuyên Quang"
    place_en: str

    @property
    def text(self) -> str:
        level_vi, level_en = LEVEL_NAMES[self.level]
        return f"{self.place_vi}: {self.units} {level_vi} ({self.place_en}: {self.units} {level_en})"


def _pick(declared: str | None, table: Table, conventional: tuple[str, ...]) -> str | None:
    if declared == NONE:
        return None
    if declared:
        if table.column(declared) is None:
            raise ValueError(f"{table.qualified_name} has no column {declared!r}")
        return declared
    return next((name for name in conventional if table.column(name) is not None), None)


def temporal_coverage(conn: psycopg.Connection, table: Table, declared: str | None) -> Temporal | None:
    """First and last period of the mart: years, months or days, from the period column."""
    name = _pick(declared, table, PERIOD_COLUMNS)
    if name is None or not table.rows:
        return None
    col = table.column(name)
    assert col is not None
    ident = sql.Identifier(name)
    if col.pg_type in ("date", "timestamp without time zone", "timestamp with time zone"):
        query = sql.SQL(
            "select min({c})::date, max({c})::date, bool_and(extract(day from {c}) = 1) from {t}"
        ).format(c=ident, t=table.ident)
        first, last, monthly = conn.execute(query).fetchone()
        if first is None:
            return None
        if monthly:
            end = last.replace(day=calendar.monthrange(last.year, last.month)[1])
            return Temporal(first, end, f"{first:%m/%Y}–{last:%m/%Y}")
        return Temporal(first, last, f"{first:%d/%m/%Y}–{last:%d/%m/%Y}")
    query = sql.SQL("select min({c}::text), max({c}::text) from {t}").format(c=ident, t=table.ident)
    if col.datastore_type in ("int2", "int4", "int8", "numeric"):
        query = sql.SQL("select min({c})::text, max({c})::text from {t}").format(c=ident, t=table.ident)
    first_text, last_text = conn.execute(query).fetchone()
    first, last = _period(first_text, start=True), _period(last_text, start=False)
    if first is None or last is None:
        return None
    return Temporal(first, last, f"{first_text}–{last_text}" if first_text != last_text else first_text)


def _period(text: str | None, start: bool) -> date | None:
    """``2024`` / ``2024-03`` / ``2024-Q1`` / ``2024-03-15`` as its first (or last) day."""
    if not text:
        return None
    text = text.strip()
    if m := re.fullmatch(r"(\d{4})", text):
        year = int(m[1])
        return date(year, 1, 1) if start else date(year, 12, 31)
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
        year, month = int(m[1]), int(m[2])
    elif m := re.fullmatch(r"(\d{4})-?[Qq]([1-4])", text):
        year, month = int(m[1]), 3 * int(m[2]) - (2 if start else 0)
    else:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    if not (1 <= month <= 12 and 1800 <= year <= 2200):
        return None
    return date(year, month, 1) if start else date(year, month, calendar.monthrange(year, month)[1])


def spatial_coverage(conn: psycopg.Connection, table: Table, declared: str | None) -> Spatial | None:
    """How many administrative units the mart covers, of which level, and where (one query)."""
    name = _pick(declared, table, AREA_COLUMNS)
    if name is None or not table.rows:
        return None
    covered = sql.SQL("select distinct {c}::text as code from {t} where {c} is not null").format(
        c=sql.Identifier(name), t=table.ident
    )
    if conn.execute("select to_regclass('marts.dim_admin_unit')").fetchone()[0] is None:
        (units,) = conn.execute(sql.SQL("select count(*) from ({}) as c").format(covered)).fetchone()
        return Spatial(units, None, "Cả nước", "Viet Nam") if units else None
    # each code as the newest list knows it; then: how many codes, how many known, at which levels,
    # in which provinces (the province's name when they all lie in one)
    units, known, levels, provinces, place = conn.execute(
        sql.SQL(
            """
            with covered as ({covered}),
            known as (
                select distinct on (c.code) c.code, u.level, u.vintage, u.province_code
                from covered c join marts.dim_admin_unit u on u.code = c.code
                order by c.code, u.vintage = '2025' desc, u.vintage desc
            ),
            provinces as (select distinct vintage, province_code from known)
            select
                (select count(*) from covered), (select count(*) from known),
                (select array_agg(distinct level) from known), (select count(*) from provinces),
                (select p.name from provinces k join marts.dim_admin_unit p
                    on p.vintage = k.vintage and p.code = k.province_code and p.level = 'province' limit 1)
            """
        ).format(covered=covered)
    ).fetchone()
    if not units:
        return None
    level = levels[0] if levels and len(levels) == 1 and known == units else None
    if level in ("commune", "district") and provinces == 1 and place:
        return Spatial(units, level, place, _unaccented_place(place))
    if level in ("commune", "district"):
        return Spatial(units, level, "Nhiều tỉnh", "several provinces")
    return Spatial(units, level, "Cả nước", "Viet Nam")


def _unaccented_place(name_vi: str) -> str:
    """The English form of a province name: "Tỉnh Tuyên Quang" -> "Tuyen Quang province"."""
    import unicodedata

    for prefix, kind in (("Tỉnh ", "province"), ("Thành phố ", "city")):
        if name_vi.startswith(prefix):
            bare = name_vi.removeprefix(prefix)
            plain = unicodedata.normalize("NFD", bare.replace("Đ", "D").replace("đ", "d"))
            return "".join(ch for ch in plain if not unicodedata.combining(ch)) + f" {kind}"
    return name_vi


# --- provenance ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One delivery as the public sees it: its load id and the day it landed. The agency's file name and the
    raw file's sha256 stay in ``kho_meta.loads``: the raw files of some datasets hold personal data."""

    load_id: str
    landed_at: datetime
    # A data steward's approval of the delivery (catalog publish.approval: steward): who, when
    approved_by: str | None = None
    approved_at: datetime | None = None

    def approval_text(self) -> str:
        if self.approved_at is None:
            return ""
        return f" (duyệt bởi / approved by {self.approved_by or '?'}, {_iso(self.approved_at)})"


@dataclass(frozen=True)
class Provenance:
    model: str  # marts.fct_crop_production
    loads: list[Load]
    built_at: datetime | None  # when dbt built the published content
    built_by: str = "dbt"

    def as_json(self) -> str:
        listed = self.loads[-MAX_LISTED_LOADS:]
        doc = {
            "model": self.model,
            "built_at": _iso(self.built_at),
            "loads_total": len(self.loads),
            "loads": [
                {"load_id": x.load_id, "landed_on": _day(x.landed_at)}
                | (
                    {"approved_by": x.approved_by, "approved_at": _iso(x.approved_at)}
                    if x.approved_at
                    else {}
                )
                for x in listed
            ],
        }
        return json.dumps(doc, ensure_ascii=False, sort_keys=True)  # spaces: the dataset page can wrap it

    def text(self) -> str:
        """A statement for people (and dct:provenance): Vietnamese, then English."""
        built = _iso(self.built_at) or "?"
        listed = self.loads[-MAX_LISTED_LOADS:]
        lines = [
            f"Dựng bằng dbt (bảng {self.model}) lúc {built} từ {len(self.loads)} lần nạp dữ liệu của cơ quan "
            f"cung cấp / Built by dbt (table {self.model}) at {built} from {len(self.loads)} deliveries:"
        ]
        if len(listed) < len(self.loads):
            lines.append(f"(… {len(self.loads) - len(listed)} lần nạp cũ hơn / older deliveries)")
        lines += [f"- {x.load_id}: {_day(x.landed_at)}{x.approval_text()}" for x in listed]
        return "\n".join(lines)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")


def _day(moment: datetime) -> str:
    """The landing date (UTC), e.g. ``2025-03-01``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


def loads(conn: psycopg.Connection, dataset_id: str) -> list[Load]:
    """The dataset's landed deliveries, oldest first: what the mart was built from, each with the steward's
    approval that let it out, if it needed one."""
    rows = conn.execute(
        """
        select load_id, coalesce(finished_at, started_at)
        from kho_meta.loads where dataset = %s and status = 'landed'
        order by 2, 1
        """,
        [dataset_id],
    ).fetchall()
    approved: dict[str, tuple[str | None, datetime]] = {}
    if conn.execute("select to_regclass('kho_meta.approvals')").fetchone()[0] is not None:
        for load_id, by, at in conn.execute(
            """
            select distinct on (load_id) load_id, responded_by, responded_at
            from kho_meta.approvals, unnest(load_ids) as load_id
            where dataset = %s and decision = 'approved'
            order by load_id, responded_at desc
            """,
            [dataset_id],
        ):
            approved[load_id] = (by, at)
    return [Load(load_id, landed, *approved.get(load_id, (None, None))) for load_id, landed in rows]


def dbt_built_at(s: Settings, model: str) -> datetime | None:
    """When dbt last built ``model`` successfully in the warehouse DAG (Airflow's metadata database).

    None when no Airflow run built it (a mart made by hand, a test).
    """
    db = s.airflow_home / "airflow.db"
    if not db.exists():
        return None
    # Cosmos names the task after the model: dbt.<model>_model_build (TestBehavior.BUILD), _run otherwise
    tasks = [f"dbt.{model}_model_build", f"dbt.{model}_run", f"dbt.{model}.run", f"dbt.{model}.build"]
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "select max(end_date) from task_instance where dag_id = 'warehouse' and state = 'success'"
                " and task_id in (?, ?, ?, ?)",
                tasks,
            ).fetchone()
    except sqlite3.Error:
        return None
    if not row or not row[0]:
        return None
    moment = datetime.fromisoformat(str(row[0]))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # Airflow keeps UTC


# --- dbt docs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbtDocs:
    """What dbt's manifest says about the published model."""

    descriptions: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    personal: frozenset[str] = frozenset()  # columns dbt flags as personal data (model or its sources)
    classification: str | None = None  # the model's own meta.classification, if it declares one
    sources: frozenset[tuple[str, str]] = frozenset()  # (schema, table) of every raw table it is built from


def _meta(entry: dict[str, Any]) -> dict[str, Any]:
    return {**((entry.get("config") or {}).get("meta") or {}), **(entry.get("meta") or {})}


def _flagged(column: dict[str, Any]) -> bool:
    tags = set(column.get("tags") or []) | set((column.get("config") or {}).get("tags") or [])
    return bool(_meta(column).get("personal_data")) or "personal_data" in tags


@lru_cache(maxsize=2)
def _read_manifest(path: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    """dbt's manifest (MBs of JSON), read once per version of the file in a process."""
    return json.loads(path.read_text(encoding="utf-8"))


def _manifest(path: Path, attempts: int = 5) -> dict[str, Any]:
    """The manifest, waiting a moment if dbt is rewriting it (it writes the file in place)."""
    for attempt in range(attempts):
        stat = path.stat()
        try:
            return _read_manifest(path.resolve(), stat.st_mtime_ns, stat.st_size)
        except json.JSONDecodeError as exc:
            if attempt == attempts - 1:
                raise ValueError(f"dbt's manifest {path} cannot be read ({exc}); run `dbt parse`") from None
            time.sleep(0.5)
    raise AssertionError("unreachable")


def _upstream_sources(doc: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    """Every source the node is built from, through any number of models."""
    nodes, sources = doc.get("nodes", {}), doc.get("sources", {})
    found: dict[str, dict[str, Any]] = {}
    todo, seen = list((node.get("depends_on") or {}).get("nodes") or []), set()
    while todo:
        unique_id = todo.pop()
        if unique_id in seen:
            continue
        seen.add(unique_id)
        if unique_id in sources:
            found[unique_id] = sources[unique_id]
        elif unique_id in nodes:
            todo += (nodes[unique_id].get("depends_on") or {}).get("nodes") or []
    return list(found.values())


def dbt_docs(manifest: Path, ds: Dataset) -> DbtDocs:
    """Descriptions, units, personal-data flags, classification and lineage of ``ds``'s published model.

    Personal-data flags count on the model's columns and on the columns of every source it is built
    from. Without the model in the manifest, the dataset's own raw table stands for its sources.
    """
    if ds.publish is None or not manifest.exists():
        return DbtDocs()
    doc = _manifest(manifest)
    node = next(
        (
            n
            for n in doc.get("nodes", {}).values()
            if n.get("resource_type") == "model" and n.get("name") == ds.publish.model
        ),
        None,
    )
    descriptions: dict[str, str] = {}
    units: dict[str, str] = {}
    personal: set[str] = set()
    for name, col in (node or {}).get("columns", {}).items():
        descriptions[name] = " ".join((col.get("description") or "").split())
        if _meta(col).get("unit"):
            units[name] = str(_meta(col)["unit"])
        if _flagged(col):
            personal.add(name)
    if node is not None:
        sources = _upstream_sources(doc, node)
    else:
        sources = [
            src
            for src in doc.get("sources", {}).values()
            if src.get("schema") == ds.raw_schema
            and (src.get("identifier") or src.get("name")) == ds.raw_table
        ]
    for src in sources:
        personal |= {name for name, col in (src.get("columns") or {}).items() if _flagged(col)}
    return DbtDocs(
        descriptions,
        units,
        frozenset(personal),
        _meta(node or {}).get("classification"),
        frozenset((src.get("schema"), src.get("identifier") or src.get("name")) for src in sources),
    )


UNIT_IN_LABEL = re.compile(r"\(([^()\s]{1,12}(?: [^()\s]{1,12})?)\)$")  # "(ha)", "(triệu đồng)"
LABEL_MAX = 60


def _label(description: str) -> str:
    """A column's short Vietnamese name from its description: "Vụ: whole_year (cả năm), ... / Season: ..."
    gives "Vụ"; "Mã tỉnh 2 chữ số theo danh mục của số liệu (danh mục 2024, ...)" loses the parenthesis."""
    label = description.split(" / ")[0].strip().rstrip(".").strip()
    label = label.split(": ")[0].strip()
    if len(label) > LABEL_MAX and " (" in label:
        label = label.split(" (")[0].strip()
    return label


def data_dictionary(table: Table, ds: Dataset, docs: DbtDocs) -> dict[str, dict[str, str]]:
    """``info`` of each DataStore field: label (Vietnamese), notes (the whole description) and unit.

    A description "Diện tích gieo trồng (ha). / Planted area (hectares)." gives the label "Diện tích gieo
    trồng (ha)" and the unit "ha". A unit declared in dbt (``meta.unit``) or on the catalog column of the
    same name comes first.
    """
    catalog_units = {c.name: c.unit for c in ds.columns if c.unit}
    info: dict[str, dict[str, str]] = {}
    for col in table.columns:
        text = docs.descriptions.get(col.name, "")
        if not text:
            continue
        label = _label(text)
        unit = docs.units.get(col.name) or catalog_units.get(col.name)
        if not unit and (m := UNIT_IN_LABEL.search(label)):
            unit = m[1]
        entry = {"label": label, "notes": text}
        if unit:
            entry["unit"] = unit
            entry["notes"] = f"{text} Đơn vị / unit: {unit}."
        info[col.name] = entry
    return info


# --- CKAN fields ---------------------------------------------------------------------------------


def ckan_name(identifier: str) -> str:
    """CKAN URL name for a catalog id: ``crop_statistics`` -> ``crop-statistics``."""
    return identifier.replace("_", "-")


def organization_metadata(agency: Agency) -> dict[str, Any]:
    english = f"*{agency.name_en}.* {agency.description_en}".strip()
    return {
        "title": agency.name_vi,
        "description": f"{agency.description_vi}\n\n{english}".strip(),
        "state": "active",
    }


@dataclass(frozen=True)
class Facts:
    """Everything about one publication that does not come from the catalog entry itself."""

    site_url: str
    org_name: str
    temporal: Temporal | None
    spatial: Spatial | None
    provenance: Provenance


def package_metadata(ds: Dataset, agency: Agency, org_id: str, facts: Facts) -> dict[str, Any]:
    """The dataset as CKAN should show it: Vietnamese first, English second, DCAT-ready extras."""
    frequency = FREQUENCY_VI[ds.update_frequency]
    org_url = f"{facts.site_url}/organization/{facts.org_name}"
    when_vi = facts.temporal.text if facts.temporal else "không rõ"
    where_vi = facts.spatial.text.split(" (")[0] if facts.spatial else "không rõ"
    contact = f" **Liên hệ:** {agency.email}." if agency.email else ""
    notes = (
        f"{ds.description_vi}\n\n"
        f"**Cơ quan cung cấp:** {agency.name_vi}. **Tần suất cập nhật:** {frequency}.{contact}\n\n"
        f"**Thời gian:** {when_vi}. **Phạm vi:** {where_vi}.\n\n"
        f"---\n\n"
        f"**{ds.title_en}**\n\n{ds.description_en}\n\n"
        f"Source: {agency.name_en}. Updated {ds.update_frequency}."
    )
    extras: dict[str, str | None] = {
        "title_en": ds.title_en,
        "theme": json.dumps([f"{EU}/data-theme/{t}" for t in ds.themes]) if ds.themes else None,
        "update_frequency": f"{frequency} ({ds.update_frequency})",
        "frequency": FREQUENCY_URI[ds.update_frequency],
        "language": json.dumps(LANGUAGES),
        "access_rights": PUBLIC_ACCESS,
        "source_agency": f"{agency.name_vi} ({agency.name_en})",
        "publisher_name": agency.name_vi,
        "publisher_email": agency.email,
        "publisher_url": org_url,
        "publisher_uri": org_url,
        "contact_name": f"{agency.name_vi} ({agency.name_en})",
        "contact_email": agency.email,
        "temporal_start": facts.temporal.start.isoformat() if facts.temporal else None,
        "temporal_end": facts.temporal.end.isoformat() if facts.temporal else None,
        "temporal_coverage": facts.temporal.text if facts.temporal else None,
        "spatial_text": facts.spatial.text if facts.spatial else None,
        "spatial_units": str(facts.spatial.units) if facts.spatial else None,
        "provenance": facts.provenance.text(),
        "modified": _iso(facts.provenance.built_at),
        "kho_dataset_id": ds.id,
        "kho_model": facts.provenance.model,
        "kho_built_at": _iso(facts.provenance.built_at),
        "kho_load_ids": ", ".join(x.load_id for x in facts.provenance.loads[-MAX_LISTED_LOADS:]),
        "kho_provenance": facts.provenance.as_json(),
    }
    return {
        "title": ds.title_vi,
        "notes": notes,
        "owner_org": org_id,
        "private": False,
        "state": "active",
        "license_id": ds.licence,
        "author": agency.name_vi,
        "author_email": agency.email or "",
        "maintainer": agency.name_vi,
        "maintainer_email": agency.email or "",
        "tags": [{"name": tag} for tag in ds.tags],
        "extras": [{"key": k, "value": v} for k, v in extras.items() if v],
    }


def extra(package: dict[str, Any], key: str) -> str | None:
    return next((e["value"] for e in package.get("extras", []) if e["key"] == key), None)


def package_differences(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` that ``current`` (from package_show) does not already have."""
    changed = {}
    for key, value in wanted.items():
        if key == "tags":
            same = sorted(t["name"] for t in current.get("tags", [])) == sorted(t["name"] for t in value)
        elif key == "groups":
            same = sorted(g["name"] for g in current.get("groups", [])) == sorted(g["name"] for g in value)
        elif key == "extras":
            have = {e["key"]: e["value"] for e in current.get("extras", [])}
            # the portal's schema (ckanext-scheming) shows some extras as fields of their own
            for e in value:
                if e["key"] not in have and current.get(e["key"]) not in (None, ""):
                    field = current[e["key"]]
                    have[e["key"]] = json.dumps(field) if isinstance(field, list) else str(field)
            same = have == {e["key"]: e["value"] for e in value}
        elif isinstance(value, str):
            same = (current.get(key) or "") == (value or "")
        else:
            same = current.get(key) == value
        if not same:
            changed[key] = value
    return changed
