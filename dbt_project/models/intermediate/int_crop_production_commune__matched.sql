-- Commune crop figures of every load, with the commune each name denotes, in canonical units. Which load's
-- figures stand for a commune, crop, season and year (the latest) is the mart's choice, so that its
-- incremental build reads the new loads only: this view has no window over all loads.
--
-- A commune name means a unit of one of the two lists of the warehouse's province (var kho_province_code,
-- Tuyên Quang by default): figures of a year before 2025 mean the commune of the 2024 list if the name is
-- there ("Minh Quang" in 2024 is the old, smaller commune), figures from 2025 the current one; the other list
-- is the fallback (an old name in a 2025 table: "Yên Lâm", now part of Yên Phú). The unit keeps its own code
-- and gets the 2025 commune its territory went into whole, so figures can be added up by today's communes.
with

production as (

    select * from {{ ref('stg_agriculture__crop_production_commune') }}

),

matched_communes as (

    {{ kho_match_communes('production', year='year', name='commune_name') }}

),

final as (

    select
        load_id,
        source_row,
        report_sheet,
        year,
        crop,
        season,
        commune_name as commune_name_delivered,
        commune_name_key,
        match_status,
        match_unit_id as commune_unit_id,
        match_code as commune_code,
        match_name as commune_name,
        match_code_2025 as commune_code_2025,
        match_name_2025 as commune_name_2025,
        planted_area_ha,
        production_t,
        yield_unit as yield_unit_delivered,
        loaded_at,
        case when match_unit_id is not null then match_vintage end as commune_vintage,
        -- multiplying, never dividing, keeps the numerics short: 61.4 * 0.1 is 6.14
        coalesce(yield_tonnes_per_ha, yield_quintals_per_ha * 0.1) as yield_t_per_ha
    from matched_communes

)

select * from final
