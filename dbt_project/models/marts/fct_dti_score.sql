-- The unit ids and 2025 codes are tested against dim_admin_unit, so it must be built first.
-- depends_on: {{ ref('dim_admin_unit') }}
with

dti_scores as (

    select * from {{ ref('int_dti_scores__resolved') }}
    where unit_level = 'department' or match_status = 'matched'

),

final as (

    select
        year,
        unit_level,
        admin_unit_id,
        commune_code_2025,
        commune_name_2025,
        digital_government,
        digital_economy,
        digital_society,
        dti,
        rank_in_level::integer as rank_in_level,
        units_in_level::integer as units_in_level,
        coalesce(commune_name_official, department_name) as unit_name
    from dti_scores

)

select * from final
