-- The commune names of the crop_production_commune deliveries the warehouse holds, each resolved as
-- int_crop_production_commune__matched resolves it (the same kho_match_communes arguments): what `kho
-- match-report` counts.
with

names as (

    -- staging has a row per crop and season of a delivered row: one name per delivered row
    select distinct
        load_id,
        report_sheet,
        source_row,
        year,
        commune_name as name_delivered,
        commune_name_key as name_key
    from {{ ref('stg_agriculture__crop_production_commune') }}

),

matched as (

    {{ kho_match_communes('names', name_key='name_key', name='name_delivered', year='year') }}

),

final as (

    {{ kho_count_commune_names('matched', 'crop_production_commune', 'commune_name') }}

)

select * from final
