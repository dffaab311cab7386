-- The agencies of the catalog (catalog/agencies.yml), handed to dbt as the var kho_agencies by
-- scripts/sync_dbt_from_catalog.py: who owns which raw schema, database role and CKAN organization.
{%- set agencies = var('kho_agencies') %}
with

agencies as (

    select *
    from (
        values
        {%- for agency in agencies %}
            (
                '{{ agency.id }}',
                '{{ agency.name_vi | replace("'", "''") }}',
                '{{ agency.name_en | replace("'", "''") }}',
                {{ "'" ~ agency.email ~ "'" if agency.email else 'null' }},
                '{{ agency.role }}',
                '{{ agency.ckan_organization }}',
                {{ agency.datasets }},
                {{ agency.open_datasets }}
            ){{ ',' if not loop.last }}
        {%- endfor %}
    ) as catalog_agencies (
        agency_id,
        name_vi,
        name_en,
        email,
        database_role,
        ckan_organization,
        dataset_count,
        open_dataset_count
    )

),

final as (

    select
        agency_id::text as agency_id,
        name_vi::text as name_vi,
        name_en::text as name_en,
        email::text as email,
        database_role::text as database_role,
        ckan_organization::text as ckan_organization,
        dataset_count::integer as dataset_count,
        open_dataset_count::integer as open_dataset_count,
        ('raw_' || agency_id)::text as raw_schema
    from agencies

)

select * from final
