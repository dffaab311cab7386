-- The commune names of the dti_scores deliveries the warehouse holds, each resolved as
-- int_dti_scores__resolved resolves it (the same kho_match_communes arguments): what `kho match-report`
-- counts.
with

names as (

    -- departments name no commune
    select
        load_id,
        year,
        commune_name as name_delivered,
        commune_name_key as name_key
    from {{ ref('stg_information_communications__dti_scores') }}
    where commune_name is not null

),

matched as (

    {{ kho_match_communes('names', name_key='name_key', name='name_delivered', year='year') }}

),

final as (

    {{ kho_count_commune_names('matched', 'dti_scores', 'commune_name') }}

)

select * from final
