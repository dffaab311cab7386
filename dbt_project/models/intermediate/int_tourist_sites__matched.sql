with

tourist_sites as (

    select * from {{ ref('stg_culture_tourism__tourist_sites') }}

),

-- The names of the province's current communes. A name means nothing without its province (there are
-- dozens of "Tân Lập"), so only the warehouse's province is looked in.
commune_aliases as (

    select * from {{ ref('ref_commune_aliases') }}
    where
        province_code = '{{ var("kho_province_code", "08") }}'
        and vintage = '2025'

),

matched as (

    -- A site whose commune did not match keeps a null code: the mart's quality gate stops it there,
    -- rather than the site silently leaving the register.
    select
        tourist_sites.site_id,
        tourist_sites.site_name,
        tourist_sites.category,
        tourist_sites.ranking,
        tourist_sites.commune,
        commune_aliases.commune_code,
        commune_aliases.commune_name,
        commune_aliases.province_code,
        tourist_sites.address,
        tourist_sites.latitude,
        tourist_sites.longitude,
        tourist_sites.updated_at,
        tourist_sites.load_id,
        tourist_sites.loaded_at
    from tourist_sites
    left join commune_aliases
        on tourist_sites.commune_key = commune_aliases.alias_key

)

select * from matched
