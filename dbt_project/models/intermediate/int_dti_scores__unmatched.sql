-- Communes of the DTI tables that did not resolve to one unit of the province in the assessed year: their
-- scores are NOT in the published table until an alias is added or the table corrected.
with

resolved as (

    select * from {{ ref('int_dti_scores__resolved') }}

),

unmatched as (

    select
        year,
        commune_name,
        commune_name_key,
        match_status,
        match_candidates,
        admin_unit_id,
        dti,
        rank_in_level,
        source_file,
        source_row,
        load_id
    from resolved
    where match_status <> 'matched'

)

select * from unmatched
