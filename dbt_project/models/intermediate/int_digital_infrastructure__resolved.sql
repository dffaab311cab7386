-- One row per quarter and commune as delivered (its operators' rows added up), with the 2025 commune of
-- the warehouse's province (var kho_province_code, Tuyên Quang by default) the name resolves to.
with

digital_infrastructure as (

    select * from {{ ref('stg_information_communications__digital_infra') }}

),

commune_aliases as (

    select * from {{ ref('ref_commune_aliases') }}
    where province_code = '{{ var("kho_province_code", "08") }}'

),

units_2025 as (

    select * from {{ ref('ref_admin_units_2025') }}

),

-- Reports made since the reorganisation name today's communes; a name only known from before 1 July 2025
-- falls back to the commune it went into whole. A former commune's name that is also the name of another
-- current commune of the province ("Tân Tiến") is taken as the current one: match keys drop accents and
-- carry no district, so nothing here can tell them apart.
lookup as (

    select distinct on (alias_key)
        alias_key,
        status,
        commune_code_2025,
        candidates
    from commune_aliases
    order by alias_key asc, vintage desc

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

resolved as (

    select
        per_name.*,
        lookup.candidates as match_candidates,
        lookup.commune_code_2025,
        units_2025.name as commune_name_2025,
        case
            when lookup.alias_key is null then 'unknown'
            when lookup.status = 'ambiguous' then 'ambiguous'
            when lookup.commune_code_2025 is null then 'split'
            else 'matched'
        end as match_status
    from per_name
    left join lookup
        on per_name.commune_name_key = lookup.alias_key
    left join units_2025
        on lookup.commune_code_2025 = units_2025.code

)

select * from resolved
