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

commune_aliases as (

    select * from {{ ref('ref_commune_aliases') }}
    where province_code = '{{ var("kho_province_code", "08") }}'

),

units_2025 as (

    select * from {{ ref('ref_admin_units_2025') }}

),

candidates as (

    select
        production.load_id,
        production.source_row,
        production.report_sheet,
        production.commune_name,
        production.commune_name_key,
        production.year,
        production.crop,
        production.season,
        production.planted_area_ha,
        production.production_t,
        production.yield_quintals_per_ha,
        production.yield_tonnes_per_ha,
        production.yield_unit,
        production.loaded_at,
        commune_aliases.vintage,
        commune_aliases.status,
        commune_aliases.commune_code,
        commune_aliases.commune_name as official_name,
        commune_aliases.commune_code_2025,
        row_number() over (
            partition by
                production.load_id,
                production.report_sheet,
                production.source_row,
                production.crop,
                production.season
            order by
                commune_aliases.vintage
                = case when production.year >= 2025 then '2025' else '2024' end desc nulls last
        ) as preference
    from production
    left join commune_aliases
        on production.commune_name_key = commune_aliases.alias_key

),

matched as (

    select
        candidates.load_id,
        candidates.source_row,
        candidates.report_sheet,
        candidates.year,
        candidates.crop,
        candidates.season,
        candidates.commune_name as commune_name_delivered,
        candidates.commune_name_key,
        candidates.commune_code,
        candidates.official_name as commune_name,
        candidates.commune_code_2025,
        units_2025.name as commune_name_2025,
        candidates.planted_area_ha,
        candidates.production_t,
        candidates.yield_unit as yield_unit_delivered,
        candidates.loaded_at,
        case
            when candidates.status is null then 'unknown'
            when candidates.status = 'ambiguous' then 'ambiguous'
            else 'matched'
        end as match_status,
        case
            when candidates.status = 'unique'
                then candidates.vintage || ':' || candidates.commune_code
        end as commune_unit_id,
        case when candidates.status = 'unique' then candidates.vintage end as commune_vintage,
        -- multiplying, never dividing, keeps the numerics short: 61.4 * 0.1 is 6.14
        coalesce(
            candidates.yield_tonnes_per_ha, candidates.yield_quintals_per_ha * 0.1
        ) as yield_t_per_ha
    from candidates
    left join units_2025
        on candidates.commune_code_2025 = units_2025.code
    where candidates.preference = 1

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
