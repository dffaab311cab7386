-- One row per construction material (name, specification, canonical unit) ever priced; names and group as
-- the latest bulletin writes them.
with

prices as (

    select * from {{ ref('int_material_prices__monthly') }}

),

latest_naming as (

    select distinct on (material_id)
        material_id,
        material_group,
        material_name,
        specification,
        unit
    from prices
    order by material_id asc, bulletin_month desc, area_of_application asc

),

months as (

    select
        material_id,
        min(bulletin_month) as first_month,
        max(bulletin_month) as last_month
    from prices
    group by material_id

),

final as (

    select
        latest_naming.material_id,
        latest_naming.material_group,
        latest_naming.material_name,
        latest_naming.specification,
        latest_naming.unit,
        months.first_month,
        months.last_month,
        case latest_naming.unit
            when 'm3' then 'm³'
            when 'm2' then 'm²'
            when 't' then 'tấn'
            when 'kg' then 'kg'
            when 'piece' then 'viên'
        end as unit_vi
    from latest_naming
    inner join months
        on latest_naming.material_id = months.material_id

)

select * from final
