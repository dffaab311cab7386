-- Every DTI row, a commune's with the unit of the warehouse's province (var kho_province_code, Tuyên Quang
-- by default) its name denotes in the assessed year.
with

dti_scores as (

    select * from {{ ref('stg_information_communications__dti_scores') }}

),

-- A score belongs to the commune as it was in the assessed year: before 2025 the former communes come
-- first (the name of a former commune is often also the name of the larger one it went into).
matched as (

    {{ kho_match_communes('dti_scores', year='year', name='commune_name') }}

),

resolved as (

    -- the columns keep the order readers of this view know, calculations among them
    select  -- noqa: ST06
        load_id,
        source_file,
        source_row,
        year,
        unit_level,
        department_name,
        commune_name,
        commune_name_key,
        digital_government,
        digital_economy,
        digital_society,
        dti,
        match_candidates,
        match_name as commune_name_official,
        match_code_2025 as commune_code_2025,
        match_name_2025 as commune_name_2025,
        case when unit_level <> 'commune' then null else match_status end as match_status,
        match_unit_id as admin_unit_id,
        -- ranks as the assessment gave them: among every delivered unit of the group, matched or not
        rank() over (partition by year, unit_level order by dti desc) as rank_in_level,
        count(*) over (partition by year, unit_level) as units_in_level
    from matched

)

select * from resolved
