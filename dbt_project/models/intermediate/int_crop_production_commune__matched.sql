-- Commune crop figures with the commune each name denotes, in canonical units, latest load first.
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

    {{ kho_match_communes('production', year='year') }}

),

matched as (

    select
        load_id,
        source_row,
        report_sheet,
        year,
        crop,
        season,
        commune_name as commune_name_delivered,
        commune_name_key,
        match_code as commune_code,
        match_name as commune_name,
        match_code_2025 as commune_code_2025,
        match_name_2025 as commune_name_2025,
        planted_area_ha,
        production_t,
        yield_unit as yield_unit_delivered,
        loaded_at,
        match_status,
        match_unit_id as commune_unit_id,
        case when match_unit_id is not null then match_vintage end as commune_vintage,
        -- multiplying, never dividing, keeps the numerics short: 61.4 * 0.1 is 6.14
        coalesce(yield_tonnes_per_ha, yield_quintals_per_ha * 0.1) as yield_t_per_ha
    from matched_communes

),

ranked as (

    -- A revision landed later replaces the figures of the same commune, crop, season and year, even when it
    -- spells the commune differently. Rows of one load share a rank, so a commune twice in one table stays
    -- visible to the mart's key test.
    select
        *,
        dense_rank() over (
            partition by year, crop, season, coalesce(commune_unit_id, commune_name_key)
            order by loaded_at desc, load_id desc
        ) as load_rank
    from matched

),

latest as (

    select
        load_id,
        source_row,
        report_sheet,
        year,
        crop,
        season,
        commune_name_delivered,
        commune_name_key,
        match_status,
        commune_unit_id,
        commune_vintage,
        commune_code,
        commune_name,
        commune_code_2025,
        commune_name_2025,
        planted_area_ha,
        production_t,
        yield_t_per_ha,
        yield_unit_delivered,
        loaded_at
    from ranked
    where load_rank = 1

)

select * from latest
