with

tourist_sites as (

    select * from {{ ref('int_tourist_sites__matched') }}

),

final as (

    select
        site_id,
        site_name,
        category,
        ranking,
        commune_code,
        commune_name,
        province_code,
        address,
        latitude,
        longitude,
        updated_at
    from tourist_sites

)

select * from final
