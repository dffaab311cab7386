with

source as (

    select * from {{ source('culture_tourism', 'tourist_sites') }}

),

renamed as (

    select

        ----------  ids
        _load_id as load_id,
        _source_row as source_row,
        site_id,

        ---------- text
        _source_file as source_file,
        site_name,
        category,
        commune,
        commune_key,
        address,
        ranking,

        ---------- numerics
        latitude,
        longitude,

        ---------- timestamps
        updated_at,
        _loaded_at as loaded_at

    from source

),

ranked as (

    -- Every load is the whole register (all pages of the API), so the latest load is the register:
    -- a site the department removed is gone from it.
    select
        *,
        dense_rank() over (order by loaded_at desc, load_id desc) as load_rank
    from renamed

),

latest as (

    select
        load_id,
        source_row,
        site_id,
        source_file,
        site_name,
        category,
        commune,
        commune_key,
        address,
        ranking,
        latitude,
        longitude,
        updated_at,
        loaded_at
    from ranked
    where load_rank = 1

)

select * from latest
