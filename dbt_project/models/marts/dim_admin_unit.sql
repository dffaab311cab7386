with

units_2024 as (

    select * from {{ ref('ref_admin_units_2024') }}

),

units_2025 as (

    select * from {{ ref('ref_admin_units_2025') }}

),

historic_provinces as (

    select * from {{ ref('ref_historic_provinces') }}

),

crosswalk as (

    select * from {{ ref('ref_admin_crosswalk_2025') }}

),

-- An old unit has one 2025 code only if it went whole into one new unit; split units get none.
whole_successors as (

    select
        old_code,
        min(new_code) as code_2025
    from crosswalk
    group by old_code
    having count(*) = 1 and bool_and(overlap = 'full')

),

vintage_2024 as (

    select
        '2024' as vintage,
        units_2024.code,
        units_2024.level,
        units_2024.name,
        units_2024.short_name,
        units_2024.unit_type,
        units_2024.parent_code,
        units_2024.province_code,
        whole_successors.code_2025,
        -- the list is a snapshot: when each unit came into being is not recorded
        null::date as valid_from,
        date '2025-06-30' as valid_to
    from units_2024
    left join whole_successors
        on units_2024.code = whole_successors.old_code

),

vintage_2025 as (

    select
        '2025' as vintage,
        code,
        level,
        name,
        short_name,
        unit_type,
        parent_code,
        province_code,
        code as code_2025,
        date '2025-07-01' as valid_from,
        null::date as valid_to
    from units_2025

),

historic as (

    select
        'historic' as vintage,
        historic_provinces.code,
        'province' as level,
        historic_provinces.name,
        historic_provinces.short_name,
        historic_provinces.unit_type,
        null as parent_code,
        historic_provinces.code as province_code,
        whole_successors.code_2025,
        null::date as valid_from,
        historic_provinces.valid_to
    from historic_provinces
    left join whole_successors
        on historic_provinces.merged_into_code = whole_successors.old_code

),

unioned as (

    select * from vintage_2024
    union all
    select * from vintage_2025
    union all
    select * from historic

),

final as (

    -- The key leads, although it is computed.
    -- noqa: disable=ST06
    select
        vintage || ':' || code as admin_unit_id,
        vintage,
        code,
        level,
        name,
        short_name,
        unit_type,
        parent_code,
        province_code,
        code_2025,
        valid_from,
        valid_to
    from unioned
    -- noqa: enable=ST06

)

select * from final
