{#-
    Fails for every combination of `combination_of_columns` that occurs more than once: the test for a
    composite primary key (dbt_utils has one, but packages cannot be installed here).
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    {%- set columns = combination_of_columns | join(', ') %}

    select
        {{ columns }},
        count(*) as n_rows
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1

{% endtest %}
