-- One price per month, material and area (the latest load of that month wins: a corrected bulletin
-- replaces the month), with the material's id and the previous month's price.
with

prices as (

    select * from {{ ref('stg_construction__material_prices') }}

),

keyed as (

    select
        *,
        -- the same material, specification and unit is the same material whatever the spacing or case
        md5(
            lower(regexp_replace(material_name, '\s+', ' ', 'g'))
            || '|' || lower(regexp_replace(coalesce(specification, ''), '\s+', ' ', 'g'))
            || '|' || coalesce(unit, '')
        ) as material_id
    from prices

),

latest as (

    -- rows of one load share a rank: a material listed twice in one month stays visible to the key test
    select *
    from (
        select
            *,
            dense_rank() over (
                partition by bulletin_month, material_id, area_of_application
                order by loaded_at desc, load_id desc
            ) as load_rank
        from keyed
    ) as ranked
    where load_rank = 1

),

with_history as (

    select
        bulletin_month,
        material_id,
        material_group,
        material_name,
        specification,
        unit,
        unit_delivered,
        area_of_application,
        price_vnd,
        load_id,
        loaded_at,
        -- "last month's" only if the bulletin before was indeed last month's
        case
            when
                lag(bulletin_month) over history = bulletin_month - interval '1 month'
                then lag(price_vnd) over history
        end as previous_month_price_vnd,
        first_value(price_vnd) over history as first_price_vnd
    from latest
    window history as (partition by material_id, area_of_application order by bulletin_month)

)

select * from with_history
