-- The contact of each organic zone in the register, every load: the household name and phone, which are
-- personal data (catalog personal_data: true). Only the restricted mart organic_zone_contacts reads this;
-- stg_agriculture__organic_zones, which feeds the open data, leaves these columns out.
with

source as (

    select * from {{ source('agriculture', 'organic_zones') }}

),

renamed as (

    select

        ----------  ids
        _load_id as load_id,

        ---------- text
        household_name,

        ---------- timestamps
        _loaded_at as loaded_at,

        ---------- cleaned
        upper(zone_code) as zone_code,
        -- digits only: "0982 530 829", "035.097.3060"
        nullif(regexp_replace(phone, '[^0-9+]', '', 'g'), '') as phone

    from source

)

select * from renamed
