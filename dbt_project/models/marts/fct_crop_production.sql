-- The province codes are tested against dim_admin_unit, so it must be built first (and Cosmos then
-- runs those relationships tests with this model).
-- depends_on: {{ ref('dim_admin_unit') }}
with

crop_statistics as (

    select * from {{ ref('int_crop_statistics__matched') }}

),

-- One row per province, crop, season and year; each measure converted from the delivered unit to the
-- canonical one. A unit not listed here gives null (staging tests reject unknown units before this).
-- Multiplying, never dividing, keeps numerics exact and short: 46.5 quintals/ha * 0.1 is 4.65
-- (46.5 / 10 would be 4.6500000000000000).
pivoted as (

    select
        province_code,
        province_code_2025,
        province_name_vi,
        crop,
        season,
        year,
        max(
            case when measure = 'planted_area' and unit = 'thousand ha' then value * 1000 end
        ) as planted_area_ha,
        max(
            case when measure = 'production' and unit = 'thousand tonnes' then value * 1000 end
        ) as production_t,
        max(
            case when measure = 'yield' and unit = 'quintals/ha' then value * 0.1 end
        ) as yield_t_per_ha,
        bool_or(is_preliminary) as is_preliminary
    from crop_statistics
    -- the measures converted here; another one a table declares (per capita, kg/person) stays in staging
    where measure in ('planted_area', 'production', 'yield')
    group by
        province_code,
        province_code_2025,
        province_name_vi,
        crop,
        season,
        year
    -- '..' in every measure says nothing (Hà Tây after its merger in 2008): no row
    having count(value) > 0

)

select * from pivoted
