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

    {% for group, crop, season in groups %}
        select
            load_id,
            source_row,
            source_file,
            report_sheet,
            district_name,
            commune_name,
            commune_name_key,
            year,
            '{{ crop }}' as crop,
            '{{ season }}' as season,
            {{ group }}_area_ha as planted_area_ha,
            {{ group }}_production_t as production_t,
            {{ group }}_yield_q_ha as yield_quintals_per_ha,
            {{ group }}_yield_t_ha as yield_tonnes_per_ha,
            -- the yield's unit, from the column the header put it in
            case
                when {{ group }}_yield_q_ha is not null and {{ group }}_yield_t_ha is not null then 'both'
                when {{ group }}_yield_t_ha is not null then 't/ha'
                when {{ group }}_yield_q_ha is not null then 'quintals/ha'
            end as yield_unit,
            loaded_at
        from renamed
        -- a crop the commune does not grow ("-" in every measure) is no row
        where
            num_nonnulls(
                {{ group }}_area_ha, {{ group }}_production_t, {{ group }}_yield_q_ha, {{ group }}_yield_t_ha
            ) > 0
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unpivoted
