-- The 2025 commune codes and the dates are tested against dim_admin_unit and dim_date, so they must be built
-- first.
-- depends_on: {{ ref('dim_admin_unit') }}
-- depends_on: {{ ref('dim_date') }}
with

admin_procedures as (

    select * from {{ ref('int_admin_procedures__resolved') }}

),

final as (

    select
        month,
        unit_code,
        unit_name,
        unit_level,
        commune_code_2025,
        commune_name_2025,
        received,
        received_online,
        resolved,
        resolved_on_time,
        resolved_late,
        in_progress,
        extract(year from month)::integer as year,
        -- shares of dossiers, 4 decimals; none when there is nothing to divide
        round(received_online::numeric / nullif(received, 0), 4) as online_share,
        round(resolved_on_time::numeric / nullif(resolved, 0), 4) as on_time_share
    from admin_procedures

)

select * from final
