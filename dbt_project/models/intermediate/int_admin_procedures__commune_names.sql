-- The commune names of the admin_procedures deliveries the warehouse holds, each resolved as
-- int_admin_procedures__resolved resolves it (the same kho_match_communes arguments): what `kho
-- match-report` counts.
with

names as (

    -- departments name no commune
    select
        load_id,
        null::integer as year,
        commune_name as name_delivered,
        commune_name_key as name_key
    from {{ ref('stg_public_service_portal__admin_procedures') }}
    where commune_name is not null

),

matched as (

    {{ kho_match_communes('names', name_key='name_key', name='name_delivered', split_is_unmatched=true) }}

),

final as (

    {{ kho_count_commune_names('matched', 'admin_procedures', 'commune_name') }}

)

select * from final
