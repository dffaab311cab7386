with

crop_statistics as (

    select * from {{ ref('stg_statistics_office__crop_statistics') }}

),

area_aliases as (

    select * from {{ ref('ref_area_aliases') }}

),

matched as (

    select
        crop_statistics.load_id,
        crop_statistics.measure,
        crop_statistics.crop,
        crop_statistics.season,
        crop_statistics.unit,
        crop_statistics.area_name,
        crop_statistics.year,
        crop_statistics.value,
        crop_statistics.is_preliminary,
        crop_statistics.loaded_at,
        area_aliases.area_code as province_code,
        area_aliases.area_code_2025 as province_code_2025,
        area_aliases.name_vi as province_name_vi
    from crop_statistics
    inner join area_aliases
        on crop_statistics.area_name_key = area_aliases.area_key
    -- country and region rows are totals of provinces: leave them out
    where area_aliases.area_level = 'province'

),

ranked as (

    -- Two spellings of one province ("Thua Thien-Hue" then "Hue") are one cell: the latest load wins
    -- here too. Rows of the same load keep the same rank, so a duplicate in one file fails the key test.
    select
        *,
        dense_rank() over (
            partition by measure, crop, season, province_code, year
            order by loaded_at desc, load_id desc
        ) as load_rank
    from matched

),

latest as (

    select
        load_id,
        measure,
        crop,
        season,
        unit,
        area_name,
        year,
        value,
        is_preliminary,
        loaded_at,
        province_code,
        province_code_2025,
        province_name_vi
    from ranked
    where load_rank = 1

)

select * from latest
