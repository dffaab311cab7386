-- The commune names of the organic_zones deliveries the warehouse holds, each resolved as
-- int_organic_zones__matched resolves it (the same kho_match_communes arguments): what `kho match-report`
-- counts.
with

names as (

    select
        load_id,
        null::integer as year,
        commune_name as name_delivered,
        commune_name_key as name_key
    from {{ ref('stg_agriculture__organic_zones') }}

),

matched as (

    {{ kho_match_communes('names', name_key='name_key', name='name_delivered') }}

),

final as (

    {{ kho_count_commune_names('matched', 'organic_zones', 'commune_name') }}

)

select * from final
