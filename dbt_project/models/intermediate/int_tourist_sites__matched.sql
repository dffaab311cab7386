with

tourist_sites as (

    select * from {{ ref('stg_culture_tourism__tourist_sites') }}

),

-- The register names the province's current communes (the 2025 list only). A name means nothing without
-- its province (there are dozens of "Tân Lập"), so only the warehouse's province is looked in.
sites_matched as (

    {{ kho_match_communes('tourist_sites', name_key='commune_key', vintages=['2025'], name='commune') }}

),

matched as (

    -- A site whose commune did not match keeps a null code: the mart's quality gate stops it there,
    -- rather than the site silently leaving the register.
    select
        site_id,
        site_name,
        category,
        ranking,
        commune,
        match_code as commune_code,
        match_name as commune_name,
        match_province_code as province_code,
        address,
        latitude,
        longitude,
        updated_at,
        load_id,
        loaded_at
    from sites_matched

)

select * from matched
