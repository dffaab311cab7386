-- Commune-level units whose commune name did not resolve to one 2025 commune of the province: their
-- figures still reach the mart (keyed by the portal's unit), only without a commune code.
with

resolved as (

    select * from {{ ref('int_admin_procedures__resolved') }}

),

unmatched as (

    select
        unit_code,
        unit_name,
        commune_name,
        commune_name_key,
        match_status,
        match_candidates,
        commune_code_2025,
        count(*) as months,
        min(month) as first_month,
        max(month) as last_month,
        max(source_file) as source_file
    from resolved
    where match_status <> 'matched'
    group by
        unit_code,
        unit_name,
        commune_name,
        commune_name_key,
        match_status,
        match_candidates,
        commune_code_2025

)

select * from unmatched
