-- A price index per material (name, specification and unit) and area of application: the first month of
-- the series is 100. The change from last month only when last month was priced.
-- The materials and months are tested against dim_material and dim_date. fct_material_price depends on
-- dim_date (and tests its months against it), so only dim_material must be named here to be built first.
-- depends_on: {{ ref('dim_material') }}
with

prices as (

    select * from {{ ref('fct_material_price') }}

),

series as (

    select
        bulletin_month,
        material_id,
        area_of_application,
        material_group,
        material_name,
        specification,
        unit,
        price_vnd,
        first_value(bulletin_month) over material_area as base_month,
        first_value(price_vnd) over material_area as base_price_vnd,
        lag(bulletin_month) over material_area as previous_bulletin_month,
        lag(price_vnd) over material_area as previous_bulletin_price_vnd
    from prices
    window material_area as (partition by material_id, area_of_application order by bulletin_month)

),

with_last_month as (

    select
        *,
        case
            when previous_bulletin_month = (bulletin_month - interval '1 month')::date
                then previous_bulletin_price_vnd
        end as previous_month_price_vnd
    from series

),

final as (

    select
        bulletin_month,
        material_id,
        area_of_application,
        material_group,
        material_name,
        specification,
        unit,
        price_vnd,
        base_month,
        base_price_vnd,
        previous_month_price_vnd,
        round(100.0 * price_vnd / nullif(base_price_vnd, 0), 2) as price_index,
        round(
            100.0 * (price_vnd - previous_month_price_vnd) / nullif(previous_month_price_vnd, 0), 2
        ) as month_over_month_change_pct
    from with_last_month

)

select * from final
