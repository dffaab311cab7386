-- Each organic zone as the latest delivery listing it, with the commune its name denotes. The register is
-- current, so a name means the commune of the 2025 list if it is there, else the former commune (2024 list)
-- and the 2025 commune it went into whole ("Khau Tinh", now part of Yên Hoa). The warehouse's province is
-- var kho_province_code (Tuyên Quang by default).
with

zones as (

    -- the register's columns but the contact's (household name, phone: personal data, never on this path)
    select
        load_id,
        zone_code,
        zone_name,
        commune_name,
        commune_name_key,
        village,
        crop_name,
        crop_code,
        standard,
        certificate_body,
        certificate_number,
        area_ha,
        issue_date,
        expiry_date,
        loaded_at
    from {{ ref('stg_agriculture__organic_zones') }}

),

latest as (

    -- rows of one load share a rank: a zone listed twice in one delivery stays visible to the key test
    select *
    from (
        select
            *,
            dense_rank() over (partition by zone_code order by loaded_at desc, load_id desc) as load_rank
        from zones
    ) as ranked
    where load_rank = 1

),

latest_matched as (

    {{ kho_match_communes('latest', name='commune_name') }}

),

matched as (

    select
        zone_code,
        zone_name,
        commune_name as commune_name_delivered,
        commune_name_key,
        match_name as commune_name,
        match_code_2025 as commune_code_2025,
        match_name_2025 as commune_name_2025,
        village,
        crop_code,
        crop_name,
        area_ha,
        standard,
        certificate_body,
        certificate_number,
        issue_date,
        expiry_date,
        load_id,
        loaded_at,
        match_status,
        match_unit_id as commune_unit_id
    from latest_matched

)

select * from matched
