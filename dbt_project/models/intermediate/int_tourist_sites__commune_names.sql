-- The commune names of the tourist_sites deliveries the warehouse holds, each resolved as
-- int_tourist_sites__matched resolves it (the same kho_match_communes arguments): what `kho match-report`
-- counts.
with

names as (

    select
        load_id,
        null::integer as year,
        commune as name_delivered,
        commune_key as name_key
    from {{ ref('stg_culture_tourism__tourist_sites') }}

),

matched as (

    {{ kho_match_communes('names', name_key='name_key', name='name_delivered', vintages=['2025']) }}

),

final as (

    {{ kho_count_commune_names('matched', 'tourist_sites', 'commune') }}

)

select * from final
