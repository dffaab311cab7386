-- Every load of the price bulletins: the month from the sheet name, the group heading without its numeral,
-- the unit in one spelling.
with

source as (

    select * from {{ source('construction', 'material_prices') }}

),

renamed as (

    -- grouped by kind, as staging models are: casts sit among the plain renames
    -- noqa: disable=ST06
    select

        ----------  ids
        _load_id as load_id,
        _source_row as source_row,

        ---------- text
        _source_file as source_file,
        bulletin_sheet,
        -- "I. XI MĂNG", "II CÁT, ĐÁ, SỎI" -> "Xi măng", "Cát, đá, sỏi"
        nullif(regexp_replace(material_group, '^[IVXLC]+[.)]?\s+', ''), '') as material_group_heading,
        material_name,
        specification,
        unit as unit_delivered,
        case lower(replace(replace(unit, '³', '3'), '²', '2'))
            when 'm3' then 'm3'
            when 'm2' then 'm2'
            when 'tấn' then 't'
            when 't' then 't'
            when 'kg' then 'kg'
            when 'viên' then 'piece'
        end as unit,
        -- a bulletin without areas applies to the whole province
        coalesce(area_of_application, 'Toàn tỉnh') as area_of_application,
        note,

        ---------- numerics
        price_vnd,

        ---------- dates
        -- "T01-2025", "T1/2025", "Tháng 01-2025": the first number is the month, the four digits the year
        case
            when substring(bulletin_sheet from '^\D*(\d{1,2})\D')::integer between 1 and 12
                then make_date(
                    substring(bulletin_sheet from '(\d{4})')::integer,
                    substring(bulletin_sheet from '^\D*(\d{1,2})\D')::integer,
                    1
                )
        end as bulletin_month,

        ---------- timestamps
        _loaded_at as loaded_at

    from source
    -- noqa: enable=ST06

),

cased as (

    select
        load_id,
        source_row,
        source_file,
        bulletin_sheet,
        material_name,
        specification,
        unit_delivered,
        unit,
        area_of_application,
        note,
        price_vnd,
        bulletin_month,
        loaded_at,
        upper(left(material_group_heading, 1))
        || lower(substring(material_group_heading from 2)) as material_group
    from renamed

)

select * from cased
