-- The 2025 commune codes and the dates are tested against dim_admin_unit and dim_date, so they must be built
-- first.
-- depends_on: {{ ref('dim_admin_unit') }}
-- depends_on: {{ ref('dim_date') }}
with

digital_infrastructure as (

    select * from {{ ref('int_digital_infrastructure__resolved') }}
    where match_status = 'matched'

),

-- Several delivered names can reach one 2025 commune (the communes merged into it, reported before the
-- reorganisation): their figures add up.
per_commune as (

    select
        commune_code_2025,
        commune_name_2025,
        year,
        quarter,
        count(*) as delivered_names,
        coalesce(sum(stations_2g), 0) as stations_2g,
        coalesce(sum(stations_4g), 0) as stations_4g,
        coalesce(sum(stations_5g), 0) as stations_5g,
        coalesce(sum(stations_viettel), 0) as stations_viettel,
        coalesce(sum(stations_vinaphone), 0) as stations_vinaphone,
        coalesce(sum(stations_mobifone), 0) as stations_mobifone,
        coalesce(sum(stations_vietnamobile), 0) as stations_vietnamobile,
        sum(households) as households,
        sum(fibre_households) as fibre_households
    from digital_infrastructure
    group by commune_code_2025, commune_name_2025, year, quarter

),

final as (

    select
        commune_code_2025,
        commune_name_2025,
        year,
        quarter,
        stations_2g::integer as stations_2g,
        stations_4g::integer as stations_4g,
        stations_5g::integer as stations_5g,
        stations_viettel::integer as stations_viettel,
        stations_vinaphone::integer as stations_vinaphone,
        stations_mobifone::integer as stations_mobifone,
        stations_vietnamobile::integer as stations_vietnamobile,
        households::integer as households,
        fibre_households::integer as fibre_households,
        delivered_names::integer as delivered_names,
        (make_date(year, quarter * 3, 1) + interval '1 month' - interval '1 day')::date as quarter_end,
        (stations_2g + stations_4g + stations_5g)::integer as stations_total,
        round(fibre_households::numeric / nullif(households, 0), 4) as fibre_household_share,
        round((stations_2g + stations_4g + stations_5g) * 1000::numeric / nullif(households, 0), 2)
            as stations_per_1000_households
    from per_commune

)

select * from final
