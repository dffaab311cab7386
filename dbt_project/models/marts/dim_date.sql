-- One row per day, 1990 to 2035: the calendar every fact's date, month or year joins to. Vietnamese labels
-- (Tháng 7, Quý III) beside the numbers; quarters are calendar quarters, as in official statistics.
-- The facts call their periods year and month: so does the calendar, although they are SQL keywords.
-- noqa: disable=RF04
with

days as (

    select day::date as date_day
    from generate_series(date '1990-01-01', date '2035-12-31', interval '1 day') as days (day)

),

final as (

    select
        date_day,
        extract(year from date_day)::integer as year,
        extract(quarter from date_day)::integer as quarter,
        extract(month from date_day)::integer as month,
        extract(day from date_day)::integer as day_of_month,
        extract(isodow from date_day)::integer as iso_day_of_week,
        extract(week from date_day)::integer as iso_week,
        extract(isodow from date_day) >= 6 as is_weekend,
        date_trunc('month', date_day)::date as month_start,
        (date_trunc('month', date_day) + interval '1 month - 1 day')::date as month_end,
        date_trunc('quarter', date_day)::date as quarter_start,
        to_char(date_day, 'YYYY-MM') as year_month,
        'Tháng ' || extract(month from date_day)::integer as month_name_vi,
        'Quý ' || (array['I', 'II', 'III', 'IV'])[extract(quarter from date_day)::integer] as quarter_name_vi
    from days

)

select * from final
-- noqa: enable=RF04
