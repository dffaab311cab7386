-- The on-time rate of administrative procedures per receiving unit (department or commune) and month, with
-- the unit's year to date and the whole province's month beside it. A rate is of the dossiers resolved: none
-- when nothing was resolved.
-- The commune codes and months are tested against dim_admin_unit and dim_date: fct_admin_procedure_monthly
-- depends on both (and tests its own against them), so they are built before this model.
with

monthly as (

    select * from {{ ref('fct_admin_procedure_monthly') }}

),

running as (

    select
        month,
        year,
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
        sum(resolved) over unit_year as resolved_ytd,
        sum(resolved_on_time) over unit_year as resolved_on_time_ytd,
        sum(resolved) over province_month as resolved_province,
        sum(resolved_on_time) over province_month as resolved_on_time_province
    from monthly
    window
        unit_year as (partition by unit_code, year order by month),
        province_month as (partition by month)

),

final as (

    select
        month,
        year,
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
        resolved_ytd::integer as resolved_ytd,
        resolved_on_time_ytd::integer as resolved_on_time_ytd,
        round(resolved_on_time::numeric / nullif(resolved, 0), 4) as on_time_rate,
        round(resolved_late::numeric / nullif(resolved, 0), 4) as late_rate,
        round(received_online::numeric / nullif(received, 0), 4) as online_share,
        round(resolved_on_time_ytd::numeric / nullif(resolved_ytd, 0), 4) as on_time_rate_ytd,
        round(resolved_on_time_province::numeric / nullif(resolved_province, 0), 4) as on_time_rate_province
    from running

)

select * from final
