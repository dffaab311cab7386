-- The commune units are tested against dim_admin_unit, so it must be built first (and Cosmos then runs
-- those relationships tests with this model).
-- depends_on: {{ ref('dim_admin_unit') }}
with

production as (

    select * from {{ ref('int_crop_production_commune__matched') }}

),

final as (

    select
        year,
        season,
        crop,
        commune_unit_id,
        commune_vintage,
        commune_code,
        commune_name,
        commune_code_2025,
        commune_name_2025,
        commune_name_delivered,
        report_sheet as report_period,
        planted_area_ha,
        production_t,
        yield_t_per_ha,
        yield_unit_delivered,
        -- how far the production reported is from area x yield, in % of the latter: rounding gives a few
        -- tenths; a unit mix-up (a yield in quintals read as tonnes) gives -90 or +900
        round(
            100 * (production_t - planted_area_ha * yield_t_per_ha)
            / nullif(planted_area_ha * yield_t_per_ha, 0),
            2
        ) as production_discrepancy_pct
    from production
    -- a name not tied to one commune of the province cannot be placed (int model's warning test)
    where commune_unit_id is not null

)

select * from final
