-- The open register of organic zones. Its columns are listed one by one, never select *: the raw register
-- holds personal data (household name, phone) that must not reach this table, and the contract plus the
-- GX mart suite (expect_table_columns_to_match_set) check that it does not.
-- depends_on: {{ ref('dim_admin_unit') }}
with

zones as (

    select * from {{ ref('int_organic_zones__matched') }}

),

final as (

    select
        zone_code,
        zone_name,
        crop_code,
        crop_name,
        area_ha,
        commune_unit_id,
        commune_name,
        commune_code_2025,
        commune_name_2025,
        commune_name_delivered,
        village,
        standard,
        certificate_body,
        certificate_number,
        issue_date,
        expiry_date
    from zones

)

select * from final
