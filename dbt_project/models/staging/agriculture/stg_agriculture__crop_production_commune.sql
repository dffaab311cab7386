-- The printed table is wide (one column per crop, season and measure); here it becomes long: one row per
-- commune, crop and season of a sheet. Only reshaping, renaming and casting: units are converted and names
-- matched in int_crop_production_commune__matched.
{%- set groups = [
    ('spring_paddy', 'paddy', 'spring'),
    ('winter_paddy', 'paddy', 'winter'),
    ('spring_maize', 'maize', 'spring'),
    ('maize', 'maize', 'whole_year'),
    ('cassava', 'cassava', 'whole_year'),
    ('peanut', 'peanuts', 'whole_year'),
    ('tea', 'tea', 'whole_year'),
] %}
with

source as (

    select * from {{ source('agriculture', 'crop_production_commune') }}

),

renamed as (

    select

        ----------  ids
        _load_id as load_id,
        _source_row as source_row,

        ---------- text
        _source_file as source_file,
        report_sheet,
        district_name,
        commune_name,
        commune_name_key,

        ---------- numerics
        -- the sheet is the reporting period: "Năm 2024", "Vụ Đông Xuân 2025"
        substring(report_sheet from '(\d{4})')::integer as year,  -- noqa: RF04
        {%- for group, _, _ in groups %}
            {{ group }}_area_ha,
            {{ group }}_production_t,
            {{ group }}_yield_q_ha,
            {{ group }}_yield_t_ha,
        {%- endfor %}

        ---------- timestamps
        _loaded_at as loaded_at

    from source

),

unpivoted as (

    -- one lateral row per crop and season: the table is read once, and a filter on the view (an incremental
    -- build's, on loaded_at) reaches the raw table's scan
    select
        renamed.load_id,
        renamed.source_row,
        renamed.source_file,
        renamed.report_sheet,
        renamed.district_name,
        renamed.commune_name,
        renamed.commune_name_key,
        renamed.year,
        measures.crop,
        measures.season,
        measures.planted_area_ha,
        measures.production_t,
        measures.yield_quintals_per_ha,
        measures.yield_tonnes_per_ha,
        renamed.loaded_at,
        -- the yield's unit, from the column the header put it in
        case
            when measures.yield_quintals_per_ha is not null and measures.yield_tonnes_per_ha is not null
                then 'both'
            when measures.yield_tonnes_per_ha is not null then 't/ha'
            when measures.yield_quintals_per_ha is not null then 'quintals/ha'
        end as yield_unit
    from renamed
    cross join
        lateral (
            values
            {%- for group, crop, season in groups %}
                (
                    '{{ crop }}',
                    '{{ season }}',
                    renamed.{{ group }}_area_ha,
                    renamed.{{ group }}_production_t,
                    renamed.{{ group }}_yield_q_ha,
                    renamed.{{ group }}_yield_t_ha
                ){{ ',' if not loop.last }}
            {%- endfor %}
        )
            as measures (
                crop, season, planted_area_ha, production_t, yield_quintals_per_ha, yield_tonnes_per_ha
            )
    -- a crop the commune does not grow ("-" in every measure) is no row
    where
        num_nonnulls(
            measures.planted_area_ha,
            measures.production_t,
            measures.yield_quintals_per_ha,
            measures.yield_tonnes_per_ha
        ) > 0

)

select * from unpivoted
