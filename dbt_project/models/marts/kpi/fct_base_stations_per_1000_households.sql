-- Mobile base stations per 1,000 households per commune and quarter: all operators together, then each
-- operator. None where the commune's households are not known.
-- The commune codes and quarter ends are tested against dim_admin_unit and dim_date:
-- fct_digital_infrastructure depends on both (and tests its own against them), so they are built before this
-- model.
with

infrastructure as (

    select * from {{ ref('fct_digital_infrastructure') }}

),

per_operator as (

    select
        infrastructure.commune_code_2025,
        infrastructure.commune_name_2025,
        infrastructure.year,
        infrastructure.quarter,
        infrastructure.quarter_end,
        operators.operator,
        operators.stations,
        infrastructure.households
    from infrastructure
    cross join lateral (
        values
        ('all', infrastructure.stations_total),
        ('viettel', infrastructure.stations_viettel),
        ('vinaphone', infrastructure.stations_vinaphone),
        ('mobifone', infrastructure.stations_mobifone),
        ('vietnamobile', infrastructure.stations_vietnamobile)
    ) as operators (operator, stations)

),

final as (

    select
        commune_code_2025,
        commune_name_2025,
        year,
        quarter,
        quarter_end,
        operator,
        stations,
        households,
        round(stations * 1000::numeric / nullif(households, 0), 2) as stations_per_1000_households
    from per_operator

)

select * from final
