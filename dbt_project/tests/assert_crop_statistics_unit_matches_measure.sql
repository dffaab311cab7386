-- Each measure the mart converts is delivered in one unit. A row in any other unit would turn into a null in
-- fct_crop_production's conversion, so it must stop the build here instead. Other measures (declared by their
-- table with their own unit) are data the mart does not convert yet: not checked here.
select
    measure,
    unit,
    count(*) as n_rows
from {{ ref('stg_statistics_office__crop_statistics') }}
where
    measure in ('planted_area', 'production', 'yield')
    and not (
        (measure = 'planted_area' and unit = 'thousand ha')
        or (measure = 'production' and unit = 'thousand tonnes')
        or (measure = 'yield' and unit = 'quintals/ha')
    )
group by measure, unit
