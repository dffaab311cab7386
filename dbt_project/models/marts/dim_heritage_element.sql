with

heritage as (

    select * from {{ ref('int_intangible_heritage__matched') }}

),

final as (

    select
        element_id,
        element_name,
        heritage_type,
        community,
        listing,
        year_inscribed,
        commune_count::integer as commune_count,
        commune_codes,
        commune_names,
        province_code
    from heritage

)

select * from final
