-- Crop figures restated onto today's provinces (the 34 of 1 July 2025), for series that cross the merger:
-- today's Tuyên Quang (08) before 2025 is Tuyên Quang plus Hà Giang. The additive measures (planted area,
-- production) of the old provinces are summed onto the new one and the yield is recomputed from the sums
-- (yields do not add up).
-- An old province the crosswalk lists as only partly merged ('partial') cannot be restated without weights,
-- and the crosswalk gives none: its figures are not apportioned (added nowhere), and every new province it
-- went into is flagged, with the old province's code, so that nobody reads the sum as complete.
-- The crop codes are tested against dim_crop, so it must be built first:
-- depends_on: {{ ref('dim_crop') }}
with

crop_production as (

    select * from {{ ref('fct_crop_production') }}

),

crosswalk as (

    select * from {{ ref('ref_admin_crosswalk_2025') }}
    where level = 'province'

),

historic_provinces as (

    select * from {{ ref('ref_historic_provinces') }}

),

units_2025 as (

    select * from {{ ref('ref_admin_units_2025') }}
    where level = 'province'

),

-- A historic province (Hà Tây) is traced through the 2024 province that took it in.
lineage as (

    select distinct
        crop_production.province_code,
        coalesce(historic_provinces.merged_into_code, crop_production.province_code) as code_2024
    from crop_production
    left join historic_provinces
        on crop_production.province_code = historic_provinces.code

),

-- The old provinces split between several new ones, and every new province each went into.
split_provinces as (

    select distinct old_code
    from crosswalk
    where overlap = 'partial'

),

partial_successors as (

    select
        lineage.province_code,
        crosswalk.new_code as province_code_2025
    from lineage
    inner join split_provinces
        on lineage.code_2024 = split_provinces.old_code
    inner join crosswalk
        on lineage.code_2024 = crosswalk.old_code

),

contributions as (

    select
        crop_production.province_code,
        crop_production.province_code_2025,
        crop_production.crop,
        crop_production.season,
        crop_production.year,
        crop_production.planted_area_ha,
        crop_production.production_t,
        crop_production.is_preliminary,
        false as is_partial
    from crop_production
    where
        crop_production.province_code not in (
            select partial_successors.province_code from partial_successors
        )

    union all

    select
        crop_production.province_code,
        partial_successors.province_code_2025,
        crop_production.crop,
        crop_production.season,
        crop_production.year,
        null as planted_area_ha,
        null as production_t,
        false as is_preliminary,
        true as is_partial
    from crop_production
    inner join partial_successors
        on crop_production.province_code = partial_successors.province_code

),

restated as (

    -- A sum is only given when every whole contributor has the measure: a missing one would understate it.
    select
        province_code_2025,
        crop,
        season,
        year,
        case
            when bool_and(is_partial or planted_area_ha is not null) and bool_or(not is_partial)
                then sum(planted_area_ha)
        end as planted_area_ha,
        case
            when bool_and(is_partial or production_t is not null) and bool_or(not is_partial)
                then sum(production_t)
        end as production_t,
        bool_or(is_preliminary) as is_preliminary,
        string_agg(province_code, ',' order by province_code) filter (where not is_partial)
            as source_province_codes,
        bool_or(is_partial) as has_partial_source,
        string_agg(province_code, ',' order by province_code) filter (where is_partial)
            as partial_province_codes
    from contributions
    group by
        province_code_2025,
        crop,
        season,
        year

),

final as (

    select
        restated.province_code_2025,
        units_2025.short_name as province_name_vi,
        restated.crop,
        restated.season,
        restated.year,
        restated.planted_area_ha,
        restated.production_t,
        restated.is_preliminary,
        restated.source_province_codes,
        restated.has_partial_source,
        restated.partial_province_codes,
        -- yields do not add up: production over area of the sums
        round(restated.production_t / nullif(restated.planted_area_ha, 0), 2) as yield_t_per_ha
    from restated
    left join units_2025
        on restated.province_code_2025 = units_2025.code

)

select * from final
