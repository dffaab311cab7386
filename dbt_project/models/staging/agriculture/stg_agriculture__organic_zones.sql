-- The organic zone register, every load: the one staging model of the source table. It keeps the household
-- name and phone of each zone's contact, which are personal data (catalog personal_data: true): only the
-- restricted dim_organic_zone_contact selects them; the open path (int_organic_zones__matched,
-- fct_organic_zone) names its columns one by one and leaves them out.
with

source as (

    select * from {{ source('agriculture', 'organic_zones') }}

),

renamed as (

    -- grouped by kind, as staging models are: casts sit among the plain renames
    -- noqa: disable=ST06
    select

        ----------  ids
        _load_id as load_id,
        _source_row as source_row,
        upper(zone_code) as zone_code,

        ---------- text
        _source_file as source_file,
        zone_name,
        commune_name,
        commune_name_key,
        village,
        crop as crop_name,
        -- the register writes crops freely ("chè Shan Tuyết", "Dược liệu (Cà gai leo)"): a code to filter on
        case
            when lower(crop) like 'chè shan%' then 'shan_tuyet_tea'
            when lower(crop) like 'chè%' then 'tea'
            when lower(crop) like 'cam%' then 'orange'
            when lower(crop) like 'bưởi%' then 'pomelo'
            when lower(crop) like 'lúa%' then 'paddy'
            when lower(crop) like 'dược liệu%' then 'medicinal_herbs'
            when lower(crop) like 'rau%' then 'vegetables'
            else 'other'
        end as crop_code,
        standard,
        certificate_body,
        certificate_number,
        household_name,  -- personal data
        -- personal data, digits only: "0982 530 829", "035.097.3060"
        nullif(regexp_replace(phone, '[^0-9+]', '', 'g'), '') as phone,

        ---------- numerics
        area_ha,

        ---------- dates
        issue_date,
        expiry_date,

        ---------- timestamps
        _loaded_at as loaded_at

    from source
    -- noqa: enable=ST06

)

select * from renamed
