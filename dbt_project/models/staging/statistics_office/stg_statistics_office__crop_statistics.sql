with

source as (

    select * from {{ source('statistics_office', 'crop_statistics') }}

),

renamed as (

    select

        ----------  ids
        _load_id as load_id,
        _source_row as source_row,

        ---------- text
        _source_file as source_file,
        table_title,
        measure,
        crop,
        season,
        unit,
        area_name,
        area_name_key,

        ---------- numerics
        year::integer as year,
        value,

        ---------- booleans
        is_preliminary,

        ---------- timestamps
        _loaded_at as loaded_at

    from source

),

ranked as (

    -- A revision is landed beside the original: rank the loads of each cell, newest first.
    -- Rows of one load share a rank, so a cell delivered twice in one file stays visible to the key test.
    select
        *,
        dense_rank() over (
            partition by measure, crop, season, area_name_key, year
            order by loaded_at desc, load_id desc
        ) as load_rank
    from renamed

),

latest as (

    select
        load_id,
        source_row,
        source_file,
        table_title,
        measure,
        crop,
        season,
        unit,
        area_name,
        area_name_key,
        year,
        value,
        is_preliminary,
        loaded_at
    from ranked
    where load_rank = 1

)

select * from latest
