-- Yield per province, crop and season over the years: the change from the year before and the average of
-- the last three years. A year without the year before gets no change, and the average needs all three.
-- The province codes and crops are tested against the dimensions, so they must be built first: dim_admin_unit
-- is upstream of fct_crop_production already, dim_crop is not.
-- depends_on: {{ ref('dim_crop') }}
with

production as (

    select * from {{ ref('fct_crop_production') }}
    where yield_t_per_ha is not null

),

with_history as (

    select
        province_code,
        province_code_2025,
        province_name_vi,
        crop,
        season,
        year,
        yield_t_per_ha,
        is_preliminary,
        lag(year) over series as previous_year,
        lag(yield_t_per_ha) over series as previous_yield_t_per_ha,
        avg(yield_t_per_ha) over last_three_years as average_3y,
        count(*) over last_three_years as years_3y
    from production
    window
        series as (partition by province_code, crop, season order by year),
        last_three_years as (series range between 2 preceding and current row)

),

final as (

    select
        province_code,
        province_code_2025,
        province_name_vi,
        crop,
        season,
        year,
        yield_t_per_ha,
        is_preliminary,
        case when previous_year = year - 1 then previous_yield_t_per_ha end as previous_yield_t_per_ha,
        case
            when previous_year = year - 1 then yield_t_per_ha - previous_yield_t_per_ha
        end as yield_change_t_per_ha,
        case
            when previous_year = year - 1
                then round(
                    100 * (yield_t_per_ha - previous_yield_t_per_ha) / nullif(previous_yield_t_per_ha, 0), 2
                )
        end as yield_change_pct,
        case when years_3y = 3 then round(average_3y, 3) end as yield_3y_moving_average_t_per_ha
    from with_history

)

select * from final
