"""Publish the KPI marts (``catalog/kpis.yml``) to CKAN, each beside the fact it is built from.

For each KPI, two DataStore resources in the dataset of its fact: the whole mart (for the API and
downloads), and its province-wide series (one point per period) with a line chart (ckanext-charts'
``charts_view``, whose scripts the portal serves itself). The series' latest point is written on that
resource (``kho_kpi_latest``...), which is where the home page reads its headline figures.

Why beside the fact, not a dataset of its own: a KPI has no delivery, agency or licence of its own; it is
its fact's, and a person who finds the fact finds its KPI. Idempotent: a resource whose rows and definition
did not change (``kho_fingerprint``) gets no write call. Run after the facts are published:
``publish_kpis()`` (one call, e.g. the warehouse DAG's last task).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
import yaml
from ckanapi import NotFound
from psycopg import sql

from kho.settings import REPO, Settings, settings
from publishers.metadata import ckan_name
from publishers.portal import client

KPIS_FILE = REPO / "catalog" / "kpis.yml"
DBT_PROJECT = REPO / "dbt_project" / "dbt_project.yml"
MARTS_SCHEMA = "marts"
TABLE, SERIES = "kpi_table", "kpi_series"  # kho_kind of the two resources
CHART_VIEW = "charts_view"


@dataclass(frozen=True)
class Kpi:
    id: str
    mart: str
    dataset: str  # the catalog id of the dataset of its fact
    name_vi: str
    name_en: str
    unit_vi: str
    unit_en: str
    x: str
    x_label_vi: str
    x_label_en: str
    y: str  # a SQL aggregate over the mart's rows
    where: dict[str, str] = field(default_factory=dict)

    def series_query(self, province: str, x_is_date: bool = False) -> tuple[sql.Composed, list[str]]:
        """One point per ``x``, its ``y``; the columns are named as the chart shows them (axis, legend).

        ``x`` is text, a date written ``MM/YYYY`` (ckanext-charts cannot serialise dates, and Chart.js
        would print a date axis in English); the rows come in ``x``'s order, which the chart keeps.
        """
        conditions = [
            sql.SQL("{}::text = %s").format(sql.Identifier(column)) for column in sorted(self.where)
        ]
        values = [str(self.where[c]).format(province=province) for c in sorted(self.where)]
        query = sql.SQL(
            "select {label} as x, {y} as value from {mart} {where} group by {x} order by {x}"
        ).format(
            x=sql.Identifier(self.x),
            label=sql.SQL("to_char({}, 'MM/YYYY')" if x_is_date else "{}::text").format(
                sql.Identifier(self.x)
            ),
            y=sql.SQL(self.y),  # SQL from the catalog, a reviewed file of this repository (as dbt's models)
            mart=sql.Identifier(MARTS_SCHEMA, self.mart),
            where=sql.SQL("where ") + sql.SQL(" and ").join(conditions) if conditions else sql.SQL(""),
        )
        return query, values


@lru_cache(maxsize=4)
def kpis(path: Path = KPIS_FILE) -> tuple[Kpi, ...]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(Kpi(**entry) for entry in doc["kpis"])


def province_code() -> str:
    """The platform's province: the dbt var ``kho_province_code``."""
    project = yaml.safe_load(DBT_PROJECT.read_text(encoding="utf-8"))
    return str(project["vars"]["kho_province_code"])


@dataclass
class KpiResult:
    kpi: str
    status: str  # published, unchanged, skipped (its fact is not on the portal yet), missing (no mart)
    latest: Any = None
    series_resource_id: str | None = None


def publish_kpis(s: Settings | None = None, dataset: str | None = None) -> list[KpiResult]:
    """Publish the KPIs (of ``dataset``'s fact only, when given: its warehouse run calls this)."""
    s = s or settings()
    api = client(s.ckan_url, s.ckan_api_token)
    province = province_code()
    results = []
    with psycopg.connect(s.warehouse_url) as conn:
        for kpi in kpis():
            if dataset is not None and kpi.dataset != dataset:
                continue
            results.append(_publish_one(api, conn, kpi, province))
    return results


def _publish_one(api, conn: psycopg.Connection, kpi: Kpi, province: str) -> KpiResult:
    exists = conn.execute("select to_regclass(%s)", [f"{MARTS_SCHEMA}.{kpi.mart}"]).fetchone()[0]
    if exists is None:
        return KpiResult(kpi.id, "missing")
    try:
        package = api.action.package_show(id=ckan_name(kpi.dataset))
    except NotFound:
        return KpiResult(kpi.id, "skipped")
    table_fields, table_rows = _rows(
        conn, sql.SQL("select * from {}").format(sql.Identifier(MARTS_SCHEMA, kpi.mart))
    )
    x_type = conn.execute(
        "select data_type from information_schema.columns where table_schema = %s and table_name = %s"
        " and column_name = %s",
        [MARTS_SCHEMA, kpi.mart, kpi.x],
    ).fetchone()
    query, values = kpi.series_query(
        province, x_is_date=bool(x_type) and x_type[0].startswith(("date", "timestamp"))
    )
    series_fields, series_rows = _rows(conn, query, values)
    # named as the chart shows them (axis, legend)
    x_name, y_name = kpi.x_label_vi, kpi.unit_vi
    names = {"x": x_name, "value": y_name}
    series_fields = [{**f, "id": names[f["id"]]} for f in series_fields]
    series_rows = [{x_name: r["x"], y_name: r["value"]} for r in series_rows if r["value"] is not None]
    latest = {"x": series_rows[-1][x_name], "value": series_rows[-1][y_name]} if series_rows else {}
    mine = {r.get("kho_kind"): r for r in package.get("resources", []) if r.get("kho_kpi") == kpi.id}
    wrote = False
    table_meta = {
        "name": f"{kpi.name_vi}: bảng chỉ tiêu ({kpi.mart})",
        "name_en": f"{kpi.name_en}: indicator table ({kpi.mart})",
        "description": f"Toàn bộ bảng {kpi.mart} ({len(table_rows)} dòng), truy vấn được qua DataStore API. "
        f"/ The whole {kpi.mart} table ({len(table_rows)} rows), queryable through the DataStore API.",
    }
    series_meta = {
        "name": f"{kpi.name_vi} ({kpi.unit_vi}): biểu đồ toàn tỉnh",
        "name_en": f"{kpi.name_en} ({kpi.unit_en}): province-wide chart",
        "description": f"{kpi.name_vi} theo {kpi.x_label_vi.lower()}, toàn tỉnh; tính từ bảng {kpi.mart}. "
        f"/ {kpi.name_en} by {kpi.x_label_en.lower()}, province-wide; computed from {kpi.mart}.",
        "kho_kpi_latest": _text(latest.get("value")),
        "kho_kpi_latest_x": _text(latest.get("x")),
        "kho_kpi_unit_vi": kpi.unit_vi,
        "kho_kpi_unit_en": kpi.unit_en,
        "kho_kpi_name_vi": kpi.name_vi,
        "kho_kpi_name_en": kpi.name_en,
    }
    table_id, changed = _ensure(
        api, package, kpi, TABLE, table_meta, table_fields, table_rows, mine.get(TABLE)
    )
    wrote |= changed
    series_id, changed = _ensure(
        api, package, kpi, SERIES, series_meta, series_fields, series_rows, mine.get(SERIES)
    )
    wrote |= changed
    wrote |= _ensure_chart(api, kpi, series_id)
    return KpiResult(kpi.id, "published" if wrote else "unchanged", latest.get("value"), series_id)


def _rows(conn: psycopg.Connection, query, params=None) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    cur = conn.execute(query, params or [])
    names = [c.name for c in cur.description]
    rows = [dict(zip(names, (_json(v) for v in row), strict=True)) for row in cur.fetchall()]
    types = {}
    for name in names:
        sample = next((r[name] for r in rows if r[name] is not None), None)
        types[name] = _datastore_type(cur, name, sample)
    return [{"id": n, "type": types[n]} for n in names], rows


def _datastore_type(cur, name: str, sample: Any) -> str:
    oid = next(c.type_code for c in cur.description if c.name == name)
    by_oid = {
        16: "bool",
        20: "int8",
        21: "int4",
        23: "int4",
        1082: "date",
        1114: "timestamp",
        1184: "timestamp",
    }
    if oid in by_oid:
        return by_oid[oid]
    if oid in (700, 701, 1700):
        return "numeric"
    return "text"


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _fingerprint(kpi: Kpi, kind: str, meta: dict[str, str], fields, rows) -> str:
    payload = json.dumps([kpi.__dict__, kind, meta, fields, rows], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _ensure(api, package, kpi: Kpi, kind: str, meta, fields, rows, current) -> tuple[str, bool]:
    """The KPI's resource of this kind, its DataStore table replaced when its rows or definition changed."""
    print_ = _fingerprint(kpi, kind, meta, fields, rows)
    if current is not None and current.get("kho_fingerprint") == print_:
        return current["id"], False
    extras = {**meta, "format": "CSV", "kho_kpi": kpi.id, "kho_kind": kind}
    if current is None:
        created = api.action.datastore_create(
            resource={"package_id": package["id"], **extras}, fields=fields, records=rows, force=True
        )
        resource_id = created["resource_id"]
    else:
        resource_id = current["id"]
        api.action.datastore_delete(resource_id=resource_id, force=True)
        api.action.datastore_create(resource_id=resource_id, fields=fields, records=rows, force=True)
    # last: until the fingerprint is on the resource, the next run redoes the data
    api.action.resource_patch(id=resource_id, **extras, kho_fingerprint=print_)
    return resource_id, True


def _ensure_chart(api, kpi: Kpi, resource_id: str) -> bool:
    """A line chart of the series (ckanext-charts, plotly.js: Chart.js lines need a date axis, whose ticks it writes in English); made again when its settings changed."""
    wanted = {
        "view_type": CHART_VIEW,
        "title": f"Biểu đồ: {kpi.name_vi}",
        "description": f"{kpi.name_vi} ({kpi.unit_vi}) / {kpi.name_en} ({kpi.unit_en})",
        "engine": "plotly",
        "type": "Line",
        "x": kpi.x_label_vi,
        "y": [kpi.unit_vi],
        "limit": 1000,
        "chart_title": f"{kpi.name_vi} ({kpi.unit_vi})",
        "x_axis_label": kpi.x_label_vi,
        "y_axis_label": kpi.unit_vi,
    }
    views = [v for v in api.action.resource_view_list(id=resource_id) if v.get("view_type") == CHART_VIEW]
    if views and all(views[0].get(k) == v or str(views[0].get(k)) == str(v) for k, v in wanted.items()):
        return False
    for view in views:
        api.action.resource_view_delete(id=view["id"])
    api.action.resource_view_create(resource_id=resource_id, **wanted)
    return True
