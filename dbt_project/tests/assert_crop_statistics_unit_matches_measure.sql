-- Each measure is delivered in one unit. A row in any other unit would turn into a null in
-- fct_crop_production's conversion, so it must stop the build here instead.
select
    measure,
    unit,
    count(*) as n_rows
from {{ ref('stg_statistics_office__crop_statistics') }}
where
    not (
        (measure = 'planted_area' and unit = 'thousand ha')
        or (measure = 'production' and unit = 'thousand tonnes')
        or (measure = 'yield' and unit = 'quintals/ha')
    )
group by measure, unit
