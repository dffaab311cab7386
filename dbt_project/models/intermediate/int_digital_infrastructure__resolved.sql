-- One row per quarter and commune as delivered (its operators' rows added up), with the 2025 commune of
-- the warehouse's province (var kho_province_code, Tuyên Quang by default) the name resolves to.
with

digital_infrastructure as (

    select * from {{ ref('stg_information_communications__digital_infra') }}

),

with_totals as (

    select
        *,
        coalesce(stations_2g, 0) + coalesce(stations_4g, 0) + coalesce(stations_5g, 0) as stations_all
    from digital_infrastructure

),

per_name as (

    select
        year,
        quarter,
        commune_name_key,
        min(commune_name) as commune_name,
        min(source_file) as source_file,
        min(load_id) as load_id,
        count(*) as operator_rows,
        sum(stations_2g) as stations_2g,
        sum(stations_4g) as stations_4g,
        sum(stations_5g) as stations_5g,
        sum(stations_all) filter (where operator = 'viettel') as stations_viettel,
        sum(stations_all) filter (where operator = 'vinaphone') as stations_vinaphone,
        sum(stations_all) filter (where operator = 'mobifone') as stations_mobifone,
        sum(stations_all) filter (where operator = 'vietnamobile') as stations_vietnamobile,
        -- A commune's own figures come on each of its rows, or (merged cells) on its first row only.
        max(households) as households,
        max(fibre_households) as fibre_households
    from with_totals
    group by year, quarter, commune_name_key

),

-- Reports made since the reorganisation name today's communes; a name only known from before 1 July 2025
-- falls back to the commune it went into whole (a former commune that was divided is 'split'). A former
-- commune's name that is also the name of another current commune of the province ("Tân Tiến") is taken as
-- the current one: match keys drop accents and carry no district; only the name as delivered can tell them
-- apart (kho_match_communes: its unit type or its accents).
matched as (

    {{ kho_match_communes('per_name', split_is_unmatched=true, name='commune_name') }}

),

resolved as (

    select
        year,
        quarter,
        commune_name_key,
        commune_name,
        source_file,
        load_id,
        operator_rows,
        stations_2g,
        stations_4g,
        stations_5g,
        stations_viettel,
        stations_vinaphone,
        stations_mobifone,
        stations_vietnamobile,
        households,
        fibre_households,
        match_candidates,
        match_code_2025 as commune_code_2025,
        match_name_2025 as commune_name_2025,
        match_status
    from matched

)

select * from resolved
