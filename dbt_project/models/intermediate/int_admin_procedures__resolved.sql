-- The communes are those of the warehouse's province (var kho_province_code, Tuyên Quang by default): a
-- commune name means nothing outside its province.
with

admin_procedures as (

    select * from {{ ref('stg_public_service_portal__admin_procedures') }}

),

commune_aliases as (

    select * from {{ ref('ref_commune_aliases') }}
    where province_code = '{{ var("kho_province_code", "08") }}'

),

-- The portal keeps its current unit list, so a name means today's commune first; a name only known from
-- before 1 July 2025 falls back to the commune it went into.
lookup as (

    select distinct on (alias_key)
        alias_key,
        vintage,
        status,
        commune_code,
        commune_name,
        commune_code_2025,
        candidates
    from commune_aliases
    order by alias_key asc, vintage desc

),

resolved as (

    select
        admin_procedures.load_id,
        admin_procedures.unit_code,
        admin_procedures.source_file,
        admin_procedures.unit_name,
        admin_procedures.unit_level,
        admin_procedures.commune_name,
        admin_procedures.commune_name_key,
        admin_procedures.received,
        admin_procedures.received_online,
        admin_procedures.resolved,
        admin_procedures.resolved_on_time,
        admin_procedures.resolved_late,
        admin_procedures.in_progress,
        admin_procedures.month,
        admin_procedures.loaded_at,
        lookup.candidates as match_candidates,
        lookup.commune_code_2025,
        case
            when admin_procedures.unit_level <> 'commune' then null
            when lookup.alias_key is null then 'unknown'
            when lookup.status = 'ambiguous' then 'ambiguous'
            when lookup.commune_code_2025 is null then 'split'
            else 'matched'
        end as match_status
    from admin_procedures
    left join lookup
        on admin_procedures.commune_name_key = lookup.alias_key

),

units_2025 as (

    select * from {{ ref('ref_admin_units_2025') }}

),

named as (

    select
        resolved.*,
        units_2025.name as commune_name_2025
    from resolved
    left join units_2025
        on resolved.commune_code_2025 = units_2025.code

)

select * from named
