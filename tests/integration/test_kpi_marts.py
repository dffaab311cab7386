"""The KPI marts (dbt_project/models/marts/kpi) against the real PostgreSQL after a real dbt build of the
sample deliveries: every figure recomputed here, in Python, from the fact it is built from."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

pytest_plugins = ["tests.integration.conftest_samples"]


def rounded(value: Decimal, places: int) -> Decimal:
    """PostgreSQL's round(numeric, places): halves away from zero."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def ratio(numerator, denominator, places: int) -> Decimal | None:
    return None if not denominator else rounded(Decimal(numerator) / Decimal(denominator), places)


def select(warehouse, query: str, *params) -> list[dict]:
    cursor = warehouse.execute(query, list(params))
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def marts(sample_warehouse, warehouse):
    return lambda query, *params: select(warehouse, query, *params)


def test_on_time_rate_per_unit_and_month(marts):
    fact = marts("select * from marts.fct_admin_procedure_monthly")
    kpi = {
        (r["unit_code"], r["month"]): r for r in marts("select * from marts.fct_admin_procedure_on_time_rate")
    }
    assert len(kpi) == len(fact) > 1000
    by_month: dict = defaultdict(lambda: [0, 0])
    for f in fact:
        by_month[f["month"]][0] += f["resolved_on_time"]
        by_month[f["month"]][1] += f["resolved"]
    for f in fact:
        k = kpi[(f["unit_code"], f["month"])]
        year_to_date = [
            g
            for g in fact
            if g["unit_code"] == f["unit_code"] and g["year"] == f["year"] and g["month"] <= f["month"]
        ]
        resolved_ytd = sum(g["resolved"] for g in year_to_date)
        on_time_ytd = sum(g["resolved_on_time"] for g in year_to_date)
        assert k["on_time_rate"] == ratio(f["resolved_on_time"], f["resolved"], 4), k
        assert k["late_rate"] == ratio(f["resolved_late"], f["resolved"], 4), k
        assert k["online_share"] == ratio(f["received_online"], f["received"], 4), k
        assert (k["resolved_ytd"], k["resolved_on_time_ytd"]) == (resolved_ytd, on_time_ytd), k
        assert k["on_time_rate_ytd"] == ratio(on_time_ytd, resolved_ytd, 4), k
        assert k["on_time_rate_province"] == ratio(*by_month[f["month"]], 4), k
        if f["resolved"] == 0:
            assert k["on_time_rate"] is None


def test_one_department_month_by_hand(marts):
    """The busiest department-month of the samples, worked out in full."""
    (f,) = marts(
        "select * from marts.fct_admin_procedure_monthly where unit_level = 'department'"
        " order by resolved desc, unit_code, month limit 1"
    )
    (k,) = marts(
        "select * from marts.fct_admin_procedure_on_time_rate where unit_code = %s and month = %s",
        f["unit_code"],
        f["month"],
    )
    assert f["resolved"] == f["resolved_on_time"] + f["resolved_late"] > 0
    assert k["on_time_rate"] == rounded(Decimal(f["resolved_on_time"]) / f["resolved"], 4)
    assert k["on_time_rate"] == f["on_time_share"]  # the fact's own share agrees


def test_yield_trend(marts):
    fact = marts("select * from marts.fct_crop_production where yield_t_per_ha is not null")
    kpi = {
        (r["province_code"], r["crop"], r["season"], r["year"]): r
        for r in marts("select * from marts.fct_crop_yield_trend")
    }
    assert len(kpi) == len(fact) > 1000
    yields = {(f["province_code"], f["crop"], f["season"], f["year"]): f["yield_t_per_ha"] for f in fact}
    with_change = with_average = 0
    for (province, crop, season, year), value in yields.items():
        k = kpi[(province, crop, season, year)]
        previous = yields.get((province, crop, season, year - 1))
        three = [yields.get((province, crop, season, year - n)) for n in range(3)]
        assert k["yield_t_per_ha"] == value
        assert k["previous_yield_t_per_ha"] == previous
        if previous is None:
            assert (k["yield_change_t_per_ha"], k["yield_change_pct"]) == (None, None), k
        else:
            with_change += 1
            assert k["yield_change_t_per_ha"] == value - previous, k
            assert k["yield_change_pct"] == rounded(100 * (value - previous) / previous, 2), k
        if None in three:
            assert k["yield_3y_moving_average_t_per_ha"] is None, k
        else:
            with_average += 1
            assert k["yield_3y_moving_average_t_per_ha"] == rounded(sum(three) / 3, 3), k
    assert with_change > 1000 and with_average > 1000


def test_material_price_index(marts):
    fact = marts("select * from marts.fct_material_price order by bulletin_month")
    kpi = {
        (r["bulletin_month"], r["material_id"], r["area_of_application"]): r
        for r in marts("select * from marts.fct_material_price_index")
    }
    assert len(kpi) == len(fact) > 100
    series: dict = defaultdict(list)
    for f in fact:
        series[(f["material_id"], f["area_of_application"])].append(f)
    for months in series.values():
        base = months[0]
        for i, f in enumerate(months):
            k = kpi[(f["bulletin_month"], f["material_id"], f["area_of_application"])]
            previous_month = (f["bulletin_month"] - timedelta(days=1)).replace(day=1)
            before = months[i - 1] if i else None
            last_month = (
                before["price_vnd"] if before and before["bulletin_month"] == previous_month else None
            )
            assert (k["base_month"], k["base_price_vnd"]) == (base["bulletin_month"], base["price_vnd"])
            assert k["price_index"] == rounded(Decimal(100) * f["price_vnd"] / base["price_vnd"], 2), k
            assert k["previous_month_price_vnd"] == last_month, k
            expected = (
                None if last_month is None else ratio(100 * (f["price_vnd"] - last_month), last_month, 2)
            )
            assert k["month_over_month_change_pct"] == expected, k
    assert {k["price_index"] for k in kpi.values() if k["bulletin_month"] == k["base_month"]} == {
        Decimal(100)
    }


def test_base_stations_per_1000_households(marts):
    fact = marts("select * from marts.fct_digital_infrastructure")
    kpi = {
        (r["commune_code_2025"], r["year"], r["quarter"], r["operator"]): r
        for r in marts("select * from marts.fct_base_stations_per_1000_households")
    }
    operators = ("viettel", "vinaphone", "mobifone", "vietnamobile")
    assert len(kpi) == 5 * len(fact) > 300
    for f in fact:
        key = (f["commune_code_2025"], f["year"], f["quarter"])
        stations = {"all": f["stations_total"], **{op: f[f"stations_{op}"] for op in operators}}
        assert stations["all"] == sum(stations[op] for op in operators)  # the samples name no other operator
        for operator, count in stations.items():
            k = kpi[(*key, operator)]
            assert (k["stations"], k["households"]) == (count, f["households"])
            assert k["stations_per_1000_households"] == ratio(count * 1000, f["households"], 2), k
        assert kpi[(*key, "all")]["stations_per_1000_households"] == f["stations_per_1000_households"]
