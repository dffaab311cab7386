-- Who to call about each organic zone: the household and phone of the latest delivery listing the zone.
-- Personal data: restricted to the Department of Agriculture and Environment (meta classification:
-- restricted; kho/access.py grants it to agency_agriculture only), never published.
with

contacts as (

    select
        load_id,
        zone_code,
        household_name,
        phone,
        loaded_at
    from {{ ref('stg_agriculture__organic_zones') }}

),

zones as (

    select * from {{ ref('int_organic_zones__matched') }}

),

latest as (

    select distinct on (zone_code)
        zone_code,
        household_name,
        phone,
        loaded_at
    from contacts
    order by zone_code asc, loaded_at desc, load_id desc

),

final as (

    select
        latest.zone_code,
        zones.zone_name,
        zones.commune_code_2025,
        zones.commune_name_2025,
        latest.household_name,
        latest.phone,
        latest.loaded_at
    from latest
    left join zones
        on latest.zone_code = zones.zone_code

)

select * from final
