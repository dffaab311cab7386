{#-
    Post-hook of every model (dbt_project.yml): a table or view granted to open_reader must not have a
    column of personal data, that is

    - a column the catalog flags `personal_data: true` in a dataset the model is built from (the model's
      meta `kho_personal_columns`, written by scripts/sync_dbt_from_catalog.py with its grants), or
    - a column whose yml says `meta: {personal_data: true}` (a personal column renamed on the way).

    The hook runs inside the model's transaction, before dbt commits the new table and its grants: a model
    that fails leaves the previous table in place, unchanged. Who may read a model is decided by its
    `grants` config, itself derived from the catalog (see kho/access.py).
-#}
{% macro kho_assert_no_personal_data() %}
    {%- set readers = (model.config.grants or {}).get('select') or [] -%}
    {%- if execute and 'open_reader' in readers -%}
        {%- set flagged = ((model.config.meta or {}).get('kho_personal_columns') or []) | list -%}
        {%- for name, column in (model.columns or {}).items() -%}
            {%- if (column.meta or {}).get('personal_data') -%}
                {%- do flagged.append(name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set present = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {%- set exposed = flagged | map('lower') | select('in', present) | unique | sort | list -%}
        {%- if exposed -%}
            {{ exceptions.raise_compiler_error(
                this ~ " is open data (granted to open_reader) but has personal data: " ~ exposed | join(', ')
                ~ ". Leave the column out, or make the model restricted (meta: {classification: restricted})."
            ) }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
