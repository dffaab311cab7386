"""Session fixtures for tests against a real CKAN (started by kho.operations.ckan_server) and the warehouse.

Loaded by the test modules that need it with ``pytest_plugins = ["tests.integration.conftest_ckan"]``.
State and ports come from ``KHO_HOME`` / ``KHO_PORT_BASE``; when they are not set the tests use their
own (a directory under the system temp dir and port base 26300), never the developer's ``.kho``.
Services the fixture started are stopped at the end unless ``KHO_KEEP_SERVICES=1``.

The publisher's tests publish their own copy of the crop_statistics catalog entry (a random id) from
their own table ``marts.test_crop_<suffix>``, shaped like dbt's ``fct_crop_production`` (:func:`mart`),
so they never touch real data, and remove it afterwards (table, CKAN dataset, bookkeeping rows).
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from ckanapi import RemoteCKAN
from psycopg import sql

from kho.catalog import Dataset, Publish, catalog
from kho.conforming.dbt import manifest_path
from kho.operations import ckan_server, services
from kho.settings import Settings, settings


@dataclass(frozen=True)
class CkanSite:
    url: str
    admin: RemoteCKAN  # the sysadmin kho_admin, with its API token
    anonymous: RemoteCKAN
    settings: Settings


@pytest.fixture(scope="session")
def kho_settings() -> Settings:
    os.environ.setdefault("KHO_HOME", str(Path(tempfile.gettempdir()) / f"kho-test-{os.getuid()}"))
    os.environ.setdefault("KHO_PORT_BASE", "26300")
    settings.cache_clear()
    return settings()


@pytest.fixture(scope="session")
def ckan_site(kho_settings: Settings) -> Iterator[CkanSite]:
    s = kho_settings
    was_running = {
        "postgres": _listening(s.pg_port),
        "redis": _listening(s.redis_port),
        "ckan": ckan_server.is_running(s),
    }
    url = ckan_server.start(s)
    token = s.ckan_api_token
    agent = "kho-tests/0.1"
    yield CkanSite(
        url=url,
        admin=RemoteCKAN(url, apikey=token, user_agent=agent),
        anonymous=RemoteCKAN(url, user_agent=agent),
        settings=s,
    )
    if os.environ.get("KHO_KEEP_SERVICES") == "1":
        return
    if not was_running["ckan"]:
        ckan_server.stop(s)
    if not was_running["redis"]:
        services.stop_redis(s)
    if not was_running["postgres"]:
        services.stop_postgres(s)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def unique() -> str:
    """A short random suffix, so names never collide with an earlier run's datasets."""
    return uuid.uuid4().hex[:8]


# --- a mart of one's own -------------------------------------------------------------------------

COLUMNS = """
    province_code text not null,
    province_code_2025 text not null,
    province_name_vi text,
    crop text not null,
    season text not null,
    year integer not null,
    planted_area_ha numeric,
    production_t numeric,
    yield_t_per_ha numeric,
    is_preliminary boolean not null
"""
NAMES = [
    "province_code", "province_code_2025", "province_name_vi", "crop", "season", "year",
    "planted_area_ha", "production_t", "yield_t_per_ha", "is_preliminary",
]  # fmt: skip
ROWS = [
    ("01", "01", "Hà Nội", "paddy", "whole_year", 2023, Decimal("161000.0"), Decimal("920500.0"), Decimal("5.72"), False),
    ("01", "01", "Hà Nội", "paddy", "whole_year", 2024, Decimal("158300.0"), Decimal("905100.0"), Decimal("5.72"), True),
    ("28", "01", "Hà Tây", "maize", "whole_year", 2005, None, None, None, False),
    ("38", "38", "Thanh Hóa", "paddy", "spring", 2024, Decimal("118000.0"), Decimal("790000.0"), Decimal("6.69"), True),
    ("99", "99", "=HYPERLINK(\"http://x\")", "maize", "whole_year", 2024, Decimal("1.5"), Decimal("-2"), None, False),
]  # fmt: skip


@dataclass
class Mart:
    dataset: Dataset
    table: str
    conn: psycopg.Connection
    manifest: Path  # a dbt manifest that documents the table like fct_crop_production

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier("marts", self.table)

    def rows(self) -> list[tuple]:
        query = sql.SQL("select * from {} order by 1, 2, 3, 4, 5, 6").format(self.ident)
        return self.conn.execute(query).fetchall()

    def fill(self, count: int) -> None:
        """Replace the rows by ``count`` generated ones (a bigger table for the crash tests)."""
        self.conn.execute(sql.SQL("truncate {}").format(self.ident))
        self.conn.execute(
            sql.SQL(
                """
                insert into {} select
                    lpad(mod(i, 97)::text, 2, '0'), lpad(mod(i, 34)::text, 2, '0'), 'Tỉnh số ' || mod(i, 97),
                    (array['paddy', 'maize', 'cassava'])[mod(i, 3) + 1], 'season_' || (i / 1000), 1990 + mod(i, 35),
                    (i * 1.5)::numeric, (i * 7.25)::numeric, round(mod(i, 100) / 10.0, 2), mod(i, 2) = 0
                from generate_series(1, %s) as i
                """
            ).format(self.ident),
            [count],
        )


def write_manifest(path: Path, model: str, personal: tuple[str, ...] = ()) -> Path:
    """A dbt manifest with one model ``model`` documented as the project's fct_crop_production is,
    its columns in ``personal`` flagged ``meta: {personal_data: true}``."""
    real = json.loads(manifest_path().read_text(encoding="utf-8"))
    node = dict(real["nodes"]["model.kho.fct_crop_production"], name=model)
    node["columns"] = {
        name: dict(col, meta={"personal_data": True} if name in personal else {})
        for name, col in node["columns"].items()
    }
    path.write_text(json.dumps({"nodes": {f"model.kho.{model}": node}, "sources": {}}), encoding="utf-8")
    return path


@pytest.fixture
def mart(ckan_site, unique, tmp_path) -> Iterator[Mart]:
    s = ckan_site.settings
    services.ensure_database("kho", s=s)
    table = f"test_crop_{unique}"
    ident = sql.Identifier("marts", table)
    real = catalog().dataset("crop_statistics")
    dataset = real.model_copy(update={"id": f"test_crop_{unique}", "publish": Publish(model=table)})
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(sql.SQL("create table {} ({})").format(ident, sql.SQL(COLUMNS)))
        with conn.cursor().copy(sql.SQL("copy {} from stdin").format(ident)) as copy:
            for row in ROWS:
                copy.write_row(row)
        yield Mart(dataset, table, conn, write_manifest(tmp_path / "manifest.json", table))
        conn.execute(sql.SQL("drop table if exists {}").format(ident))
        if conn.execute("select to_regclass('kho_meta.publications')").fetchone()[0]:
            for bookkeeping in ("publications", "loads"):
                conn.execute(
                    sql.SQL("delete from {} where dataset = %s").format(
                        sql.Identifier("kho_meta", bookkeeping)
                    ),
                    [dataset.id],
                )
    try:
        ckan_site.admin.action.dataset_purge(id=dataset.id.replace("_", "-"))
    except Exception:  # noqa: BLE001 - a test that was refused created nothing
        pass


# --- reading back --------------------------------------------------------------------------------


def norm(value) -> str:
    """CSV text, DataStore JSON and PostgreSQL values compared as the same text."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or str(value).lower() in ("true", "false"):
        return str(value).lower()
    try:
        return str(Decimal(str(value)).normalize())
    except ArithmeticError:
        return str(value)


def csv_rows(url: str) -> tuple[bytes, list[dict]]:
    with urllib.request.urlopen(url, timeout=60) as response:
        raw = response.read()
    return raw, list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def datastore_rows(client: RemoteCKAN, resource_id: str, limit: int = 1000) -> list[dict]:
    return client.action.datastore_search(resource_id=resource_id, limit=limit)["records"]


def last_publication(mart: Mart) -> tuple:
    return mart.conn.execute(
        "select status, write_calls, rows, content_hash, detail from kho_meta.publications"
        " where dataset = %s order by id desc limit 1",
        [mart.dataset.id],
    ).fetchone()
