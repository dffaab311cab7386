"""A person's view of the portal, in a real (headless) chromium: the Vietnamese home page, a search with
diacritics, a dataset, its preview table, and the CSV download checked row by row against the warehouse.

Screenshots go to ``artifacts/browser/`` (kept by CI). Needs Debian's ``chromium`` (``apt-get install
chromium``); skipped without it. The crop dataset is the warehouse's ``marts.fct_crop_production`` when
dbt has built it, else a table of the same shape made for the test and published under the catalog
entry's own name (so that it is in its theme, as the real one is); "giá vật liệu" finds the
construction material prices, published from their mart when it exists, else from a small table.
"""

from __future__ import annotations

import csv
import io
import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from kho.catalog import Dataset, Publish, catalog
from kho.settings import REPO
from publishers.ckan import publish
from publishers.metadata import ckan_name
from publishers.table import FORMULA_PREFIXES

pytest_plugins = ["tests.integration.conftest_ckan"]

CHROMIUM = os.environ.get("KHO_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "artifacts" / "browser"
AXE = REPO / ".kho" / "node" / "axe-core-4.14.1" / "axe.min.js"  # scripts/install.sh fetches it (npm)
# What a person would see as a leftover of stock CKAN or an untranslated page, in Vietnamese
STOCK_TEXT = ("420 x 220", "Đây là khu vực mô tả", "Search data", "E.g. environment", "Powered by")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]


@dataclass
class Published:
    dataset: Dataset
    table: str  # marts.<table> the CSV must equal
    package_id: str
    resource_id: str


def _publish_from(conn, site, ds: Dataset, table: str, own: bool) -> Published:
    dataset = ds if not own else ds.model_copy(update={"publish": Publish(model=table)})
    result = publish(dataset, site.settings)
    return Published(dataset, table, result.package_id, result.resource_id)


def _exists(conn, table: str) -> bool:
    return conn.execute("select to_regclass(%s)", [f"marts.{table}"]).fetchone()[0] is not None


@pytest.fixture
def warehouse(ckan_site) -> Iterator[psycopg.Connection]:
    with psycopg.connect(ckan_site.settings.warehouse_url, autocommit=True) as conn:
        conn.execute("create schema if not exists marts")
        yield conn


@pytest.fixture
def crop(ckan_site, warehouse, unique) -> Iterator[Published]:
    real = catalog().dataset("crop_statistics")
    if _exists(warehouse, real.publish.model):
        yield _publish_from(warehouse, ckan_site, real, real.publish.model, own=False)
        return
    from tests.integration.conftest_ckan import COLUMNS, ROWS

    table = f"test_browser_crop_{unique}"
    ident = sql.Identifier("marts", table)
    warehouse.execute(sql.SQL("create table {} ({})").format(ident, sql.SQL(COLUMNS)))
    with warehouse.cursor().copy(sql.SQL("copy {} from stdin").format(ident)) as copy:
        for row in ROWS:
            copy.write_row(row)
    own = real  # published under its catalog id, so it is in its theme as the real one is
    try:
        yield _publish_from(warehouse, ckan_site, own, table, own=True)
    finally:
        warehouse.execute(sql.SQL("drop table {}").format(ident))
        ckan_site.admin.action.dataset_purge(id=ckan_name(own.id))


@pytest.fixture
def prices(ckan_site, warehouse, unique) -> Iterator[Published]:
    entry = catalog().datasets.get("material_prices")
    if entry and entry.publish and _exists(warehouse, entry.publish.model):
        yield _publish_from(warehouse, ckan_site, entry, entry.publish.model, own=False)
        return
    base = entry or catalog().dataset("crop_statistics").model_copy(
        update={
            "title_vi": "Giá vật liệu xây dựng hằng tháng (thử nghiệm)",
            "title_en": "Monthly construction material prices (test)",
            "tags": ["xây dựng", "giá"],
        }
    )
    table = f"test_browser_prices_{unique}"
    ident = sql.Identifier("marts", table)
    warehouse.execute(
        sql.SQL(
            "create table {} (bulletin_month date, material_name text, unit text, price_vnd numeric)"
        ).format(ident)
    )
    warehouse.execute(
        sql.SQL(
            "insert into {} values ('2025-01-01', 'Xi măng PCB40', 'tấn', 1650000),"
            " ('2025-01-01', 'Cát vàng', 'm3', 420000), ('2025-02-01', 'Thép cuộn D6', 'kg', 15200)"
        ).format(ident)
    )
    own = base if entry else base.model_copy(update={"id": f"browser_prices_{unique}"})
    try:
        yield _publish_from(warehouse, ckan_site, own, table, own=True)
    finally:
        warehouse.execute(sql.SQL("drop table {}").format(ident))
        ckan_site.admin.action.dataset_purge(id=ckan_name(own.id))


def mart_rows(conn, table: str) -> tuple[list[str], list[tuple[str, ...]]]:
    cur = conn.execute(sql.SQL("select * from {}").format(sql.Identifier("marts", table)))
    names = [c.name for c in cur.description]
    return names, sorted(tuple(_norm(v) for v in row) for row in cur.fetchall())


def _norm(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or str(value).lower() in ("true", "false"):
        return str(value).lower()
    text = str(value)
    if text.startswith("'") and text[1:2] in FORMULA_PREFIXES:
        text = text[1:]  # the CSV neutralises formula-looking text; the warehouse has it as delivered
    try:
        return format(Decimal(text).normalize(), "f")
    except ArithmeticError:
        return text


@pytest.fixture(scope="module", autouse=True)
def fresh_artifacts():
    for stale in ARTIFACTS.glob("*.png"):  # an earlier run's pictures
        stale.unlink()


@pytest.fixture
def kpis(ckan_site, crop, prices):
    """The KPI marts published with their charts (publishers/kpi.py); they need the pipeline's marts."""
    from publishers.kpi import publish_kpis

    results = publish_kpis(ckan_site.settings)
    missing = [r.kpi for r in results if r.status in ("missing", "skipped")]
    if missing:
        pytest.skip(f"KPI marts or their facts not built/published yet (run the pipeline first): {missing}")
    return results


def test_a_person_sees_the_key_figures_and_their_charts(ckan_site, kpis, tmp_path):
    from publishers.kpi import kpis as kpi_definitions
    from tests.browser.cdp import Browser

    with Browser(downloads=tmp_path / "downloads", executable=CHROMIUM, timeout=60) as browser:
        try:
            browser.open(ckan_site.url + "/")
            figures = browser.evaluate("[...document.querySelectorAll('.kho-kpi')].map(li => li.innerText)")
            names = [k.name_vi for k in kpi_definitions()]
            assert len(figures) == len(names)
            for name in names:
                assert any(name in figure for figure in figures), name
            browser.screenshot(ARTIFACTS / "08_home_key_figures.png")
            for index, kpi in enumerate(kpi_definitions()):
                browser.open(ckan_site.url + "/")
                href = browser.evaluate(
                    f"[...document.querySelectorAll('.kho-kpi a')]"
                    f".find(a => a.innerText.includes({kpi.name_vi!r})).getAttribute('href')"
                )
                browser.open(ckan_site.url + href)
                # plotly.js drew the series: a line with as many points as the series has, on an axis
                # labelled with the series' own periods (Vietnamese MM/YYYY or years, never English dates)
                points = browser.wait_for(
                    """(() => {
                        const div = document.querySelector('.chart-container');
                        const drawn = div && div.querySelectorAll('.scatterlayer .trace path.js-line').length;
                        return drawn && div.calcdata ? div.calcdata.reduce((n, trace) => n + trace.length, 0) : 0;
                    })()""",
                    timeout=60,
                )
                ticks = browser.evaluate(
                    "[...document.querySelectorAll('.chart-container .xtick text')].map(t => t.textContent)"
                )
                assert ticks and all(re.fullmatch(r"(\d{2}/)?\d{4}", t) for t in ticks), (kpi.id, ticks)
                series = next(r for r in kpis if r.kpi == kpi.id)
                stored = ckan_site.anonymous.action.datastore_search(
                    resource_id=series.series_resource_id, limit=0
                )["total"]
                assert points == stored, kpi.id
                assert "Biểu đồ" in browser.evaluate("document.body.innerText")
                browser.screenshot(ARTIFACTS / f"09_chart_{index + 1}_{kpi.id}.png")
                assert_accessible(browser, f"chart of {kpi.id}")
        except Exception:
            browser.screenshot(ARTIFACTS / "failed_charts.png")
            raise


def test_a_person_finds_previews_and_downloads_the_crop_data(ckan_site, warehouse, crop, prices, tmp_path):
    from tests.browser.cdp import Browser

    with Browser(downloads=tmp_path / "downloads", executable=CHROMIUM, timeout=60) as browser:
        try:
            walk_through(browser, ckan_site, warehouse, crop, prices)
        except Exception:
            browser.screenshot(ARTIFACTS / "failed.png")  # what the page showed when the test failed
            raise


def walk_through(browser, ckan_site, warehouse, crop: Published, prices: Published) -> None:
    shots = ARTIFACTS
    # the portal opens in Vietnamese
    browser.open(ckan_site.url + "/")
    assert browser.evaluate("document.documentElement.lang") == "vi"
    assert "Cổng dữ liệu mở" in browser.evaluate("document.title")
    browser.screenshot(shots / "01_home.png")
    home = browser.evaluate("document.body.innerText")
    for stock in STOCK_TEXT:
        assert stock not in home, f"the home page still shows {stock!r}"
    # the province's logo, themes with icons (every dataset in one), counts, latest updates
    assert browser.evaluate("document.querySelector('.kho-logo img').getAttribute('src')").endswith(
        "/kho/logo.svg"
    )
    themes = browser.evaluate(
        "[...document.querySelectorAll('.kho-themes li')].map(li => [li.innerText, !!li.querySelector('img')])"
    )
    assert "Nông nghiệp" in " ".join(text for text, _ in themes)
    assert themes and all(icon for _, icon in themes)
    assert "Mới cập nhật" in home and "Chủ đề" in home and "bộ dữ liệu" in home
    assert crop.dataset.title_vi in home  # featured or just updated
    assert_accessible(browser, "home")

    # search with diacritics from the home page's search box
    browser.type_into("input[name=q]", "lúa")
    browser.press_enter_and_wait()
    assert urllib.parse.unquote(browser.evaluate("location.search")).find("q=lúa") >= 0
    name = ckan_name(crop.dataset.id)
    browser.wait_for(f"!!document.querySelector('a[href$=\"/dataset/{name}\"]')")
    assert crop.dataset.title_vi in browser.evaluate("document.body.innerText")
    browser.screenshot(shots / "02_search_lua.png")
    assert_accessible(browser, "search")

    # the dataset page: Vietnamese title and description, the agency
    browser.click_and_wait(f'a[href$="/dataset/{name}"]')
    text = browser.evaluate("document.body.innerText")
    assert crop.dataset.title_vi in text
    assert catalog().agencies[crop.dataset.agency].name_vi in text
    browser.screenshot(shots / "03_dataset.png")
    # fields as labels with readable values (the scheming schema), never vocabulary IRIs or JSON
    for label, value in (("Tần suất cập nhật", "Hằng năm"), ("Ngôn ngữ", "Tiếng Việt")):
        assert label in text and value in text
    assert "publications.europa.eu" not in text and '["http' not in text
    assert "Nông nghiệp" in text  # its theme
    assert_accessible(browser, "dataset")

    # the resource page shows the DataStore rows in the preview table
    browser.click_and_wait(f'a[href*="/resource/{crop.resource_id}"]')
    preview_rows = browser.wait_for(
        """(() => {
            const frame = document.querySelector('iframe');
            const doc = frame && frame.contentDocument;
            if (!doc) return 0;
            const cells = doc.querySelectorAll('table tbody tr td');
            return cells.length > 1 ? doc.querySelectorAll('table tbody tr').length : 0;
        })()""",
        timeout=60,
    )
    assert preview_rows > 0
    browser.screenshot(shots / "04_resource_preview.png")
    assert_accessible(browser, "resource")

    # the CSV download holds exactly the warehouse's rows
    downloaded = browser.download(f'a[href*="/resource/{crop.resource_id}/download/"]')
    raw = downloaded.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    header = next(reader)
    names, expected = mart_rows(warehouse, crop.table)
    assert header == names
    assert sorted(tuple(_norm(v) for v in row) for row in reader) == expected

    # another search with diacritics, from the dataset list page
    browser.open(ckan_site.url + "/dataset/")
    browser.type_into("input[name=q]", "giá vật liệu")
    browser.press_enter_and_wait()
    prices_name = ckan_name(prices.dataset.id)
    browser.wait_for(f"!!document.querySelector('a[href$=\"/dataset/{prices_name}\"]')")
    assert prices.dataset.title_vi in browser.evaluate("document.body.innerText")
    browser.screenshot(shots / "05_search_gia_vat_lieu.png")

    # English works as the second language
    browser.open(ckan_site.url + "/en/")
    assert browser.evaluate("document.documentElement.lang") == "en"
    english = browser.evaluate("document.body.innerText")
    assert "Themes" in english and "Latest updates" in english
    browser.screenshot(shots / "06_home_en.png")
    browser.open(f"{ckan_site.url}/en/dataset/{name}")
    english = browser.evaluate("document.body.innerText")
    assert "Update frequency" in english and "Annual" in english and "Vietnamese" in english
    browser.screenshot(shots / "07_dataset_en.png")


def assert_accessible(browser, page: str) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    assert AXE.exists(), f"{AXE} is missing: run scripts/install.sh (it fetches axe-core with npm)"
    browser.evaluate(AXE.read_text(encoding="utf-8"))
    found = browser.evaluate(
        """axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')))"""
    )
    assert found == [], f"axe-core on the {page} page: {found}"
