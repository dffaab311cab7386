with

source as (

    select * from {{ source('information_communications', 'dti_scores') }}

),

renamed as (

    select

        ----------  ids
        _load_id as load_id,
        _source_row as source_row,

        ---------- text
        _source_file as source_file,
        department_name,
        commune_name,
        commune_name_key,

        ---------- numerics
        year::integer as year,
        digital_government,
        digital_economy,
        digital_society,
        dti,

        ---------- timestamps
        _loaded_at as loaded_at,

        ---------- derived: a row names a commune or a department
        case when commune_name is not null then 'commune' else 'department' end as unit_level

    from source

),

ranked as (

    -- A table is a whole year: the latest load of a year replaces every row of that year.
    select
        *,
        dense_rank() over (partition by year order by loaded_at desc, load_id desc) as load_rank
    from renamed

),

latest as (

    select
        load_id,
        source_row,
        source_file,
        unit_level,
        department_name,
        commune_name,
        commune_name_key,
        year,
        digital_government,
        digital_economy,
        digital_society,
        dti,
        loaded_at
    from ranked
    where load_rank = 1

)

select * from latest
