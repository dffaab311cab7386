-- Every DTI row, a commune's with the unit of the warehouse's province (var kho_province_code, Tuyên Quang
-- by default) its name denotes in the assessed year.
with

dti_scores as (

    select * from {{ ref('stg_information_communications__dti_scores') }}

),

commune_aliases as (

    select * from {{ ref('ref_commune_aliases') }}
    where province_code = '{{ var("kho_province_code", "08") }}'

),

units_2025 as (

    select * from {{ ref('ref_admin_units_2025') }}

),

names as (

    select distinct
        year,
        commune_name_key
    from dti_scores
    where commune_name_key is not null

),

-- A score belongs to the commune as it was in the assessed year: before 2025 the former communes come
-- first (the name of a former commune is often also the name of the larger one it went into).
lookup as (

    select distinct on (names.year, names.commune_name_key)
        names.year,
        names.commune_name_key,
        commune_aliases.vintage,
        commune_aliases.status,
        commune_aliases.commune_code,
        commune_aliases.commune_name,
        commune_aliases.commune_code_2025,
        commune_aliases.candidates
    from names
    inner join commune_aliases
        on names.commune_name_key = commune_aliases.alias_key
    order by
        names.year,
        names.commune_name_key,
        case when (commune_aliases.vintage = '2024') = (names.year < 2025) then 0 else 1 end

),

resolved as (

    select
        dti_scores.load_id,
        dti_scores.source_file,
        dti_scores.source_row,
        dti_scores.year,
        dti_scores.unit_level,
        dti_scores.department_name,
        dti_scores.commune_name,
        dti_scores.commune_name_key,
        dti_scores.digital_government,
        dti_scores.digital_economy,
        dti_scores.digital_society,
        dti_scores.dti,
        lookup.candidates as match_candidates,
        lookup.commune_name as commune_name_official,
        lookup.commune_code_2025,
        units_2025.name as commune_name_2025,
        case
            when dti_scores.unit_level <> 'commune' then null
            when lookup.commune_name_key is null then 'unknown'
            when lookup.status = 'ambiguous' then 'ambiguous'
            else 'matched'
        end as match_status,
        case when lookup.status = 'unique' then lookup.vintage || ':' || lookup.commune_code end
            as admin_unit_id,
        -- ranks as the assessment gave them: among every delivered unit of the group, matched or not
        rank() over (partition by dti_scores.year, dti_scores.unit_level order by dti_scores.dti desc)
            as rank_in_level,
        count(*) over (partition by dti_scores.year, dti_scores.unit_level) as units_in_level
    from dti_scores
    left join lookup
        on
            dti_scores.year = lookup.year
            and dti_scores.commune_name_key = lookup.commune_name_key
    left join units_2025
        on lookup.commune_code_2025 = units_2025.code

)

select * from resolved
