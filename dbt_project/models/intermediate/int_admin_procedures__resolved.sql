-- The communes are those of the warehouse's province (var kho_province_code, Tuyên Quang by default): a
-- commune name means nothing outside its province.
with

admin_procedures as (

    select * from {{ ref('stg_public_service_portal__admin_procedures') }}

),

-- The portal keeps its current unit list, so a name means today's commune first; a name only known from
-- before 1 July 2025 falls back to the commune it went into (a former commune that was divided is 'split').
matched as (

    {{ kho_match_communes('admin_procedures', split_is_unmatched=true, name='commune_name') }}

),

resolved as (

    -- the columns keep the order readers of this view know, calculations among them
    select  -- noqa: ST06
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
        loaded_at,
        match_candidates,
        match_code_2025 as commune_code_2025,
        case when unit_level <> 'commune' then null else match_status end as match_status,
        match_name_2025 as commune_name_2025
    from matched

)

select * from resolved
