-- Incremental: a build reads the deliveries landed since the table's newest one and merges their figures
-- on the key, so a revision replaces the figures it revises (the latest load wins, as in the intermediate
-- model) and a new period is added. Loads of a dataset land one at a time (kho.land holds a lock per
-- dataset and stamps _loaded_at after taking it), so a delivery never commits behind a newer one.
-- Rebuild it with `dbt build --full-refresh --select fct_crop_production_commune` when the commune
-- reference (seeds) or the logic upstream changes: rows already merged are not recomputed. The table's
-- newest loaded_at is read from its index, and the filter reaches the raw table's BRIN index on _loaded_at
-- through the upstream views (none of them reads all loads at once): bench/README.md, benchmark 9.
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['year', 'season', 'crop', 'commune_unit_id'],
        on_schema_change='fail',
        indexes=[{'columns': ['loaded_at']}],
    )
}}
-- The commune units are tested against dim_admin_unit, so it must be built first (and Cosmos then runs
-- those relationships tests with this model).
-- depends_on: {{ ref('dim_admin_unit') }}
with

production as (

    select * from {{ ref('int_crop_production_commune__matched') }}
    where
        -- a name not tied to one commune of the province cannot be placed (int model's warning test)
        commune_unit_id is not null
        {%- if is_incremental() %}
        -- an empty table (built before any delivery landed) takes every load
            and loaded_at > (
                select coalesce(max(this_fact.loaded_at), '-infinity'::timestamptz)
                from {{ this }} as this_fact
            )
        {%- endif %}

),

latest as (

    -- A revision landed later replaces the figures of the same commune, crop, season and year, even when it
    -- spells the commune differently; an incremental build's merge replaces those of older loads. Rows of
    -- one load share a rank, so a commune twice in one table stays visible to the key test.
    select *
    from (
        select
            *,
            dense_rank() over (
                partition by year, crop, season, commune_unit_id
                order by loaded_at desc, load_id desc
            ) as load_rank
        from production
    ) as ranked
    where load_rank = 1

),

final as (

    select
        year,
        season,
        crop,
        commune_unit_id,
        commune_vintage,
        commune_code,
        commune_name,
        commune_code_2025,
        commune_name_2025,
        commune_name_delivered,
        report_sheet as report_period,
        planted_area_ha,
        production_t,
        yield_t_per_ha,
        yield_unit_delivered,
        -- the delivery the figures come from (an incremental build reads the newer ones)
        load_id,
        loaded_at,
        -- how far the production reported is from area x yield, in % of the latter: rounding gives a few
        -- tenths; a unit mix-up (a yield in quintals read as tonnes) gives -90 or +900
        round(
            100 * (production_t - planted_area_ha * yield_t_per_ha)
            / nullif(planted_area_ha * yield_t_per_ha, 0),
            2
        ) as production_discrepancy_pct
    from latest

)

select * from final
