{#-
    Every row of `relation` with the commune and province its address denotes within the dataset's scope:
    the relation's columns, then match_status (matched, ambiguous, split, unknown, out_of_scope),
    match_province_code (2025), match_code_2025 and match_name_2025. `key` is the column landing wrote
    (kho/landing/addresses.py: "<province written or *> <province>:<commune 2025> ..."); the rules are
    those of kho.landing.addresses.resolve_key: a province written in the address wins over the scope
    (outside it: out_of_scope); a code only when exactly one 2025 commune is left, never a guess.
-#}
{% macro kho_match_addresses(relation, key, dataset=none) -%}
    {%- set scope = kho_scope(dataset) %}
    select
        {{ relation }}.*,
        case
            when reading.written is null then 'unknown'
            when reading.written <> '*' and not {{ kho_in_scope('reading.written', scope) }} then 'out_of_scope'
            when reading.candidates = 0 then 'unknown'
            when cardinality(reading.codes) = 1 and reading.codes[1] <> '' then 'matched'
            when reading.codes = array[''] then 'split'
            else 'ambiguous'
        end as match_status,
        case
            when reading.written <> '*' then reading.written
            when cardinality(reading.provinces) = 1 then reading.provinces[1]
        end as match_province_code,
        case
            when
                (reading.written = '*' or {{ kho_in_scope('reading.written', scope) }})
                and cardinality(reading.codes) = 1 and reading.codes[1] <> ''
                then reading.codes[1]
        end as match_code_2025,
        units_2025.name as match_name_2025
    from {{ relation }}
    left join lateral (
        select
            split_part({{ relation }}.{{ key }}, ' ', 1) as written,
            count(candidate.pair) as candidates,
            array_agg(distinct split_part(candidate.pair, ':', 1)) filter (where candidate.pair is not null)
                as provinces,
            array_agg(distinct split_part(candidate.pair, ':', 2)) filter (where candidate.pair is not null)
                as codes
        from unnest((string_to_array({{ relation }}.{{ key }}, ' '))[2:]) as candidate (pair)
        where
            split_part({{ relation }}.{{ key }}, ' ', 1) <> '*'
            or {{ kho_in_scope("split_part(candidate.pair, ':', 1)", scope) }}
    ) as reading on {{ relation }}.{{ key }} is not null
    left join {{ ref('ref_admin_units_2025') }} as units_2025
        on
            units_2025.code = case
                when
                    (reading.written = '*' or {{ kho_in_scope('reading.written', scope) }})
                    and cardinality(reading.codes) = 1
                    then reading.codes[1]
            end
{%- endmacro %}
