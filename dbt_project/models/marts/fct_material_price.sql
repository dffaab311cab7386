-- Monthly construction material prices before VAT, with the change from last month and an index on the
-- first month priced (= 100), per material and area.
-- The months are tested against dim_date, so it must be built first.
-- depends_on: {{ ref('dim_date') }}
with

prices as (

    select * from {{ ref('int_material_prices__monthly') }}

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
        previous_month_price_vnd,
        round(
            100.0 * (price_vnd - previous_month_price_vnd) / nullif(previous_month_price_vnd, 0), 2
        ) as price_change_pct,
        round(100.0 * price_vnd / nullif(first_price_vnd, 0), 1) as price_index
    from prices

)

select * from final
