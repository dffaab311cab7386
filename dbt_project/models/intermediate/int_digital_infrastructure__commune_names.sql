-- The commune names of the digital_infrastructure deliveries the warehouse holds, each resolved as
-- int_digital_infrastructure__resolved resolves it (the same kho_match_communes arguments): what `kho
-- match-report` counts.
with

names as (

    select
        load_id,
        year,
        commune_name as name_delivered,
        commune_name_key as name_key
    from {{ ref('stg_information_communications__digital_infra') }}

),

matched as (

    {{ kho_match_communes('names', name_key='name_key', name='name_delivered', split_is_unmatched=true) }}

),

final as (

    {{ kho_count_commune_names('matched', 'digital_infrastructure', 'commune_name') }}

)

select * from final
