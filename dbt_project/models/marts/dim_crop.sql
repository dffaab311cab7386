-- Crops and seasons as the crop facts code them (fct_crop_production, fct_crop_production_commune), with
-- their Vietnamese and English names: one row per crop and season that can occur. Paddy and maize are
-- reported per season as well as for the whole year; the other crops for the whole year only.
with

crops as (

    select *
    from (
        values
        ('paddy', 'Lúa', 'Paddy', 'cereal', true),
        ('maize', 'Ngô', 'Maize', 'cereal', true),
        ('cereals', 'Cây lương thực có hạt', 'Cereals', 'cereal', false),
        ('cassava', 'Sắn', 'Cassava', 'tuber', false),
        ('sweet_potatoes', 'Khoai lang', 'Sweet potatoes', 'tuber', false),
        ('peanuts', 'Lạc', 'Peanuts', 'oilseed', false),
        ('tea', 'Chè búp tươi', 'Fresh tea buds', 'perennial', false)
    ) as crop_list (crop, crop_name_vi, crop_name_en, crop_group, is_seasonal)

),

seasons as (

    select *
    from (
        values
        ('whole_year', 'Cả năm', 'Whole year', 0),
        ('spring', 'Vụ đông xuân', 'Winter-spring season', 1),
        ('autumn', 'Vụ hè thu', 'Summer-autumn season', 2),
        ('winter', 'Vụ mùa', 'Main (rainy) season', 3)
    ) as season_list (season, season_name_vi, season_name_en, season_order)

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
