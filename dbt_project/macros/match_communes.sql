{#-
    Every row of `relation` (a CTE of the calling model) with the commune its name denotes: the relation's
    own columns, then the match_* columns (described in macros/match_communes.yml). Used by every
    intermediate model that places a commune name, so that they all read a name the same way.
-#}
{% macro kho_match_communes(
    relation,
    name_key='commune_name_key',
    year=none,
    vintages=none,
    split_is_unmatched=false,
    name=none,
    dataset=none
) -%}
    {%- set scope = kho_scope(dataset) %}
    {%- set told = 'told_apart.found = 1' if name else 'false' %}
    select
        {{ relation }}.*,
        commune_lookup.province_code as match_province_code,
        commune_lookup.vintage as match_vintage,
        case when {{ told }} then told_apart.commune_code else commune_lookup.commune_code end as match_code,
        case when {{ told }} then told_apart.commune_name else commune_lookup.commune_name end as match_name,
        case
            when {{ told }} then told_apart.commune_code_2025 else commune_lookup.commune_code_2025
        end as match_code_2025,
        units_2025.name as match_name_2025,
        commune_lookup.candidates as match_candidates,
        case
            when commune_lookup.name_key is null then 'unknown'
            when commune_lookup.status = 'ambiguous' and not {{ told }} then 'ambiguous'
            {%- if split_is_unmatched %}
            when
                (case when {{ told }} then told_apart.commune_code_2025 else commune_lookup.commune_code_2025 end)
                is null
                then 'split'
            {%- endif %}
            else 'matched'
        end as match_status,
        case
            when commune_lookup.status = 'unique'
                then commune_lookup.vintage || ':' || commune_lookup.commune_code
            when {{ told }} then commune_lookup.vintage || ':' || told_apart.commune_code
        end as match_unit_id
    from {{ relation }}
    left join (
        -- one alias per name key (and, with a year, per list preferred): the preferred list's, else the
        -- other list's. Built from the reference alone, so that the calling CTE is read once and a filter on
        -- it (an incremental model's) reaches the raw table.
        select distinct on (commune_aliases.alias_key{{ ', preference.from_2025' if year }})
            commune_aliases.alias_key as name_key,
            {%- if year %}
            preference.from_2025,
            {%- endif %}
            commune_aliases.province_code,
            commune_aliases.vintage,
            commune_aliases.commune_code,
            commune_aliases.commune_name,
            commune_aliases.commune_code_2025,
            -- a key found in two provinces of a scope of several is ambiguous (one province: never)
            case
                when count(*) over (
                    partition by commune_aliases.alias_key{{ ', preference.from_2025' if year }}
                ) > count(*) over (
                    partition by commune_aliases.alias_key{{ ', preference.from_2025' if year }}, commune_aliases.province_code
                ) then 'ambiguous'
                else commune_aliases.status
            end as status,
            commune_aliases.candidates
        from {{ ref('ref_commune_aliases') }} as commune_aliases
        {%- if year %}
        cross join (values (false), (true)) as preference (from_2025)
        {%- endif %}
        where
            {{ kho_in_scope('commune_aliases.province_code', scope) }}
            {%- if vintages %}
            and commune_aliases.vintage in ('{{ vintages | join("', '") }}')
            {%- endif %}
        order by
            commune_aliases.alias_key,
            {%- if year %}
            preference.from_2025,
            -- the list of the figures' year first: before 2025 the former communes
            case when (commune_aliases.vintage = '2025') = preference.from_2025 then 0 else 1 end,
            {%- endif %}
            commune_aliases.vintage desc
    ) as commune_lookup
        on
            {{ relation }}.{{ name_key }} = commune_lookup.name_key
            {%- if year %}
            -- a row without a year is unknown
            and ({{ relation }}.{{ year }} >= 2025) = commune_lookup.from_2025
            {%- endif %}
    {%- if name %}
    left join lateral (
        -- An ambiguous key (two units of the list share it) told apart by what the name as delivered says
        -- beyond its key: its accents ("Tân Thanh" is not "Tân Thành") and, when it names one, its unit
        -- type ("Phường Tân Quang" is not "Xã Tân Quang"). Only one candidate left is a match; none or
        -- several leave the name ambiguous.
        select
            count(*) as found,
            min(candidates.commune_code) as commune_code,
            min(candidates.commune_name) as commune_name,
            min(candidates.commune_code_2025) as commune_code_2025
        from {{ ref('ref_commune_alias_candidates') }} as candidates
        where
            commune_lookup.status = 'ambiguous'
            and candidates.province_code = commune_lookup.province_code
            and candidates.alias_key = commune_lookup.name_key
            and candidates.vintage = commune_lookup.vintage
            and {{ kho_unit_bare_name('candidates.commune_name') }}
            = {{ kho_unit_bare_name(relation ~ '.' ~ name) }}
            and coalesce(
                {{ kho_unit_type(relation ~ '.' ~ name) }} = {{ kho_unit_type('candidates.commune_name') }}, true
            )
    ) as told_apart on true
    {%- endif %}
    left join {{ ref('ref_admin_units_2025') }} as units_2025
        on
            units_2025.code
            = case when {{ told }} then told_apart.commune_code_2025 else commune_lookup.commune_code_2025 end
{%- endmacro %}

{#- A unit name compared as written: Unicode NFC, lower case, single spaces. -#}
{% macro kho_unit_name_norm(expr) -%}
    regexp_replace(lower(normalize(trim({{ expr }}), nfc)), '\s+', ' ', 'g')
{%- endmacro %}

{#- The unit type a commune-level name starts with (xã, phường, thị trấn, đặc khu; X., P., TT.), or null. -#}
{% macro kho_unit_type(expr) -%}
    case
        when {{ kho_unit_name_norm(expr) }} ~ '^(xã |x\. ?)' then 'xã'
        when {{ kho_unit_name_norm(expr) }} ~ '^(phường |p\. ?)' then 'phường'
        when {{ kho_unit_name_norm(expr) }} ~ '^(thị trấn |tt\. ?|tt )' then 'thị trấn'
        when {{ kho_unit_name_norm(expr) }} ~ '^đặc khu ' then 'đặc khu'
    end
{%- endmacro %}

{#- A commune-level name without its unit type, accents kept: "Xã Tân Thanh" -> "tân thanh". -#}
{% macro kho_unit_bare_name(expr) -%}
    regexp_replace({{ kho_unit_name_norm(expr) }}, '^(xã |x\. ?|phường |p\. ?|thị trấn |tt\. ?|tt |đặc khu )', '')
{%- endmacro %}

{#-
    The rows of `relation` (kho_match_communes' output over one dataset's delivered names: load_id, year,
    name_delivered, name_key) counted per delivery, year and spelling, with how each resolved: what
    `kho match-report` reads from the int_<dataset>__commune_names models.
-#}
{% macro kho_count_commune_names(relation, dataset, column_name) -%}
    select
        md5(concat_ws('|', load_id, year, name_delivered)) as delivered_name_id,
        '{{ dataset }}'::text as dataset,
        '{{ column_name }}'::text as column_name,
        load_id,
        year,
        name_delivered,
        name_key,
        match_status,
        match_candidates,
        count(*)::integer as delivered_rows
    from {{ relation }}
    group by load_id, year, name_delivered, name_key, match_status, match_candidates
{%- endmacro %}

{#-
    A dataset's area scope: its catalog `scope` (var kho_dataset_scopes, written by
    scripts/sync_dbt_from_catalog.py), else the platform's province (var kho_province_code).
    'national' or a list of 2025 province codes.
-#}
{% macro kho_scope(dataset=none) -%}
    {%- set declared = var('kho_dataset_scopes', {}).get(dataset) if dataset else none -%}
    {{- return(declared or [var('kho_province_code', '08')]) -}}
{%- endmacro %}

{#- A condition: the province code `expr` lies in `scope` (always true for 'national'). -#}
{% macro kho_in_scope(expr, scope) -%}
    {%- if scope == 'national' -%}
        true
    {%- else -%}
        {{ expr }} in ('{{ scope | join("', '") }}')
    {%- endif -%}
{%- endmacro %}
