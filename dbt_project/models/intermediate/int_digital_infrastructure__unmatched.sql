-- Communes as delivered that did not resolve to one 2025 commune of the province: their stations and
-- households are NOT in the published table until an alias is added or the report is corrected.
with

resolved as (

    select * from {{ ref('int_digital_infrastructure__resolved') }}

),

unmatched as (

    select
        year,
        quarter,
        commune_name,
        commune_name_key,
        match_status,
        match_candidates,
        commune_code_2025,
        operator_rows,
        households,
        source_file,
        load_id,
        coalesce(stations_2g, 0) + coalesce(stations_4g, 0) + coalesce(stations_5g, 0) as stations_total
    from resolved
    where match_status <> 'matched'

)

select * from unmatched
