-- Crops and seasons as the crop facts code them (fct_crop_production, fct_crop_production_commune), with
-- their Vietnamese and English names: one row per crop and season that can occur. Paddy and maize are
-- reported per season as well as for the whole year; the other crops for the whole year only. The codes and
-- names are the seeds ref_crops and ref_seasons.
with

crops as (

    select * from {{ ref('ref_crops') }}

),

seasons as (

    select * from {{ ref('ref_seasons') }}

),

final as (

    select
        crops.crop::text as crop,
        seasons.season::text as season,
        crops.crop_name_vi::text as crop_name_vi,
        crops.crop_name_en::text as crop_name_en,
        crops.crop_group::text as crop_group,
        seasons.season_name_vi::text as season_name_vi,
        seasons.season_name_en::text as season_name_en,
        seasons.season_order::integer as season_order
    from crops
    cross join seasons
    where crops.is_seasonal or seasons.season = 'whole_year'

)

select * from final
