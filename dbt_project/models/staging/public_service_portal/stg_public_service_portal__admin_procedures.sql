with

source as (

    select * from {{ source('public_service_portal', 'admin_procedures') }}

),

renamed as (

    select

        ----------  ids
        _load_id as load_id,
        unit_code,

        ---------- text
        _source_file as source_file,
        unit_name,
        commune_name,
        commune_name_key,

        ---------- numerics
        received::integer as received,
        received_online::integer as received_online,
        resolved::integer as resolved,
        resolved_on_time::integer as resolved_on_time,
        resolved_late::integer as resolved_late,
        in_progress::integer as in_progress,

        ---------- dates
        month,

        ---------- timestamps
        _loaded_at as loaded_at,

        ---------- recoded
        case unit_level
            when 'so' then 'department'
            when 'xa' then 'commune'
        end as unit_level

    from source

),

ranked as (

    -- Every extract holds the whole history, and recent months change as their dossiers are resolved:
    -- the latest load of a month replaces that month entirely.
    select
        *,
        dense_rank() over (partition by month order by loaded_at desc, load_id desc) as load_rank
    from renamed

),

latest as (

    select
        load_id,
        unit_code,
        source_file,
        unit_name,
        unit_level,
        commune_name,
        commune_name_key,
        received,
        received_online,
        resolved,
        resolved_on_time,
        resolved_late,
        in_progress,
        month,
        loaded_at
    from ranked
    where load_rank = 1

)

select * from latest
