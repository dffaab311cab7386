"""The KPI marts on the real CKAN (publishers/kpi.py): each beside its fact, with its province-wide series,
a chart view, and its latest figure on the home page; every series point recomputed here, in Python, from
the mart's rows; a second run writes nothing."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest

from publishers.ckan import publish_dataset
from publishers.kpi import SERIES, TABLE, kpis, province_code, publish_kpis

pytest_plugins = ["tests.integration.conftest_samples", "tests.integration.conftest_ckan"]


def rounded(value: Decimal, places: int) -> float:
    return float(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def expected_series(warehouse, kpi_id: str) -> dict[str, float]:
    """Each KPI's province-wide series, from the mart's rows, as a person would add them up."""
    rows = warehouse.execute(
        f"select * from marts.{next(k.mart for k in kpis() if k.id == kpi_id)}"  # noqa: S608 - a known name
    )
    names = [c.name for c in rows.description]
    rows = [dict(zip(names, r, strict=True)) for r in rows.fetchall()]
    sums: dict = defaultdict(lambda: [Decimal(0), Decimal(0), []])
    province = province_code()
    for r in rows:
        if kpi_id == "tthc_on_time_rate":
            key, num, den = r["month"], r["resolved_on_time"], r["resolved"]
        elif kpi_id == "base_stations_per_1000_households":
            if r["operator"] != "all" or r["stations"] is None:
                continue
            key, num, den = r["quarter_end"], r["stations"], r["households"] or 0
        elif kpi_id == "crop_yield_trend":
            if (r["province_code_2025"], r["crop"], r["season"]) != (province, "paddy", "whole_year"):
                continue
            if r["yield_t_per_ha"] is None:
                continue
            sums[r["year"]][2].append(r["yield_t_per_ha"])
            continue
        else:
            if r["price_index"] is None:
                continue
            sums[r["bulletin_month"]][2].append(r["price_index"])
            continue
        sums[key][0] += num
        sums[key][1] += den
    out = {}
    for key, (num, den, values) in sums.items():
        if kpi_id == "tthc_on_time_rate":
            if den:
                out[key.isoformat()] = rounded(100 * num / den, 1)
        elif kpi_id == "base_stations_per_1000_households":
            if den:
                out[key.isoformat()] = rounded(1000 * num / den, 2)
        elif values:
            out[str(key.isoformat() if hasattr(key, "isoformat") else key)] = rounded(
                sum(values) / len(values), 2
            )
    return out


def label(x: str) -> str:
    """A period as the chart shows it: a date as MM/YYYY, a year as it is."""
    return f"{x[5:7]}/{x[:4]}" if len(x) == 10 else x


@pytest.fixture(scope="module")
def published(sample_warehouse, ckan_site):
    for dataset_id in {k.dataset for k in kpis()}:
        publish_dataset(dataset_id, ckan_site.settings)
    return publish_kpis(ckan_site.settings)


def test_every_kpi_is_published_with_its_series_and_chart(published, ckan_site, warehouse):
    assert {r.kpi for r in published} == {k.id for k in kpis()}
    assert all(r.status in ("published", "unchanged") for r in published), published
    api = ckan_site.anonymous
    for kpi in kpis():
        package = api.action.package_show(id=kpi.dataset.replace("_", "-"))
        mine = {r["kho_kind"]: r for r in package["resources"] if r.get("kho_kpi") == kpi.id}
        assert set(mine) == {TABLE, SERIES}, kpi.id
        count = warehouse.execute(f"select count(*) from marts.{kpi.mart}").fetchone()[0]  # noqa: S608
        assert api.action.datastore_search(resource_id=mine[TABLE]["id"], limit=0)["total"] == count
        series = api.action.datastore_search(resource_id=mine[SERIES]["id"], limit=10_000, sort="_id")
        got = [(p[kpi.x_label_vi], float(p[kpi.unit_vi])) for p in series["records"]]
        want = [(label(x), v) for x, v in sorted(expected_series(warehouse, kpi.id).items())]
        assert got == want, kpi.id  # in time order, as the chart draws them
        assert float(mine[SERIES]["kho_kpi_latest"]) == want[-1][1], kpi.id
        views = api.action.resource_view_list(id=mine[SERIES]["id"])
        assert [v["view_type"] for v in views].count("charts_view") == 1, kpi.id


def test_publishing_again_writes_nothing(published, ckan_site):
    again = publish_kpis(ckan_site.settings)
    assert [r.status for r in again] == ["unchanged"] * len(kpis())


def test_the_home_page_shows_the_headline_figures(published, ckan_site):
    with urllib.request.urlopen(ckan_site.url + "/", timeout=60) as resp:
        home = resp.read().decode("utf-8")
    assert "Chỉ tiêu chính" in home
    for kpi in kpis():
        assert kpi.name_vi in home, kpi.id
    with urllib.request.urlopen(ckan_site.url + "/en/", timeout=60) as resp:
        english = resp.read().decode("utf-8")
    assert "Key figures" in english and all(k.name_en in english for k in kpis())
