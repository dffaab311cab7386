-- Each organic zone as the latest delivery listing it, with the commune its name denotes. The register is
-- current, so a name means the commune of the 2025 list if it is there, else the former commune (2024 list)
-- and the 2025 commune it went into whole ("Khau Tinh", now part of Yên Hoa). The warehouse's province is
-- var kho_province_code (Tuyên Quang by default).
with

zones as (

    select * from {{ ref('stg_agriculture__organic_zones') }}

),

commune_aliases as (

    select * from {{ ref('ref_commune_aliases') }}
    where province_code = '{{ var("kho_province_code", "08") }}'

),

units_2025 as (

    select * from {{ ref('ref_admin_units_2025') }}

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

lookup as (

    select distinct on (alias_key)
        alias_key,
        vintage,
        status,
        commune_code,
        commune_name,
        commune_code_2025
    from commune_aliases
    order by alias_key asc, vintage desc

),

matched as (

    select
        latest.zone_code,
        latest.zone_name,
        latest.commune_name as commune_name_delivered,
        latest.commune_name_key,
        lookup.commune_name,
        lookup.commune_code_2025,
        units_2025.name as commune_name_2025,
        latest.village,
        latest.crop_code,
        latest.crop_name,
        latest.area_ha,
        latest.standard,
        latest.certificate_body,
        latest.certificate_number,
        latest.issue_date,
        latest.expiry_date,
        latest.load_id,
        latest.loaded_at,
        case
            when lookup.alias_key is null then 'unknown'
            when lookup.status = 'ambiguous' then 'ambiguous'
            else 'matched'
        end as match_status,
        case when lookup.status = 'unique' then lookup.vintage || ':' || lookup.commune_code end
            as commune_unit_id
    from latest
    left join lookup
        on latest.commune_name_key = lookup.alias_key
    left join units_2025
        on lookup.commune_code_2025 = units_2025.code

)

select * from matched
