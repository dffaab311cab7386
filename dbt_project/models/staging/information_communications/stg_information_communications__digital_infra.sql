with

source as (

    select * from {{ source('information_communications', 'digital_infrastructure') }}

),

renamed as (

    select

        ----------  ids
        _load_id as load_id,
        _source_row as source_row,

        ---------- text
        _source_file as source_file,
        commune_name,
        commune_name_key,
        operator as operator_as_delivered,

        ---------- numerics
        year::integer as year,
        quarter::integer as quarter,
        stations_2g::integer as stations_2g,
        stations_4g::integer as stations_4g,
        stations_5g::integer as stations_5g,
        households::integer as households,
        fibre_households::integer as fibre_households,

        ---------- timestamps
        _loaded_at as loaded_at,

        ---------- recoded: one code per operator, however the report writes it (VNPT-Vinaphone, ...)
        case lower(regexp_replace(operator, '[^A-Za-z]', '', 'g'))
            when 'viettel' then 'viettel'
            when 'vinaphone' then 'vinaphone'
            when 'vnpt' then 'vinaphone'
            when 'vnptvinaphone' then 'vinaphone'
            when 'mobifone' then 'mobifone'
            when 'vietnamobile' then 'vietnamobile'
        end as operator

    from source

),

ranked as (

    -- A report is a whole quarter: the latest load of a quarter replaces every row of that quarter, so a
    -- revision that spells a commune differently does not leave the old spelling behind.
    select
        *,
        dense_rank() over (partition by year, quarter order by loaded_at desc, load_id desc) as load_rank
    from renamed

),

latest as (

    select
        load_id,
        source_row,
        source_file,
        commune_name,
        commune_name_key,
        operator_as_delivered,
        operator,
        year,
        quarter,
        stations_2g,
        stations_4g,
        stations_5g,
        households,
        fibre_households,
        loaded_at
    from ranked
    where load_rank = 1

)

select * from latest
