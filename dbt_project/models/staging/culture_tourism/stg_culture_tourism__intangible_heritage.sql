with

source as (

    select * from {{ source('culture_tourism', 'intangible_heritage') }}

),

renamed as (

    select

        ----------  ids
        _load_id as load_id,
        _source_row as source_row,
        element_id,

        ---------- text
        _source_file as source_file,
        element_name,
        heritage_type,
        community,
        communes,
        listing,

        ---------- numerics
        year_inscribed::integer as year_inscribed,

        ---------- timestamps
        _loaded_at as loaded_at

    from source

),

ranked as (

    -- Every delivery is the whole list, so the latest load is the list: an element struck off is gone.
    select
        *,
        dense_rank() over (order by loaded_at desc, load_id desc) as load_rank
    from renamed

),

latest as (

    select
        load_id,
        source_row,
        element_id,
        source_file,
        element_name,
        heritage_type,
        community,
        communes,
        listing,
        year_inscribed,
        loaded_at
    from ranked
    where load_rank = 1

)

select * from latest
