with

heritage as (

    select * from {{ ref('stg_culture_tourism__intangible_heritage') }}

),

listed as (

    -- "Thượng Lâm, Lâm Bình, Nà Hang": one row per commune, in the order written.
    select
        heritage.element_id,
        listed_commune.commune_position,
        trim(listed_commune.commune) as commune
    from heritage
    cross join
        lateral regexp_split_to_table(heritage.communes, '\s*[,;]\s*')
        with ordinality as listed_commune (commune, commune_position)
    where trim(listed_commune.commune) <> ''

),

keyed as (

    -- kho.names.match_key in SQL, for names landing could not key (several in one cell): Vietnamese capitals
    -- to small letters (lower() alone depends on the server's locale), the unit type in front dropped, tone
    -- and letter marks dropped, then everything but letters and digits. It gives match_key's key for every
    -- commune name of the 2025 list, with and without "Xã"/"Phường", in any case.
    select
        element_id,
        commune_position,
        commune,
        regexp_replace(
            translate(
                regexp_replace(
                    lower(
                        translate(
                            commune,
                            'ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ',
                            'àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ'
                        )
                    ),
                    '^(xã|phường|thị trấn|đặc khu)\s+',
                    ''
                ),
                'àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ',
                'aaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyyd'
            ),
            '[^a-z0-9]',
            '',
            'g'
        ) as commune_key
    from listed

),

keyed_matched as (

    -- the province's current communes (2025 list) only
    {{ kho_match_communes('keyed', name_key='commune_key', vintages=['2025'], name='commune') }}

),

matched as (

    select
        element_id,
        commune_position,
        commune,
        match_code as commune_code,
        match_name as commune_name,
        match_province_code as province_code
    from keyed_matched

),

per_element as (

    -- An element with a commune that did not match gets no codes at all (not a shorter list): the mart's
    -- quality gate stops it, rather than publishing it in fewer communes than the department listed.
    select
        element_id,
        count(*) as commune_count,
        min(province_code) as province_code,
        case
            when bool_and(commune_code is not null)
                then string_agg(commune_code, '; ' order by commune_position)
        end as commune_codes,
        case
            when bool_and(commune_code is not null)
                then string_agg(commune_name, '; ' order by commune_position)
        end as commune_names,
        string_agg(commune, '; ' order by commune_position) filter (
            where commune_code is null
        ) as unmatched_communes
    from matched
    group by element_id

),

final as (

    select
        heritage.element_id,
        heritage.element_name,
        heritage.heritage_type,
        heritage.community,
        heritage.listing,
        heritage.year_inscribed,
        heritage.communes,
        per_element.commune_count,
        per_element.commune_codes,
        per_element.commune_names,
        per_element.unmatched_communes,
        per_element.province_code,
        heritage.load_id,
        heritage.loaded_at
    from heritage
    left join per_element
        on heritage.element_id = per_element.element_id

)

select * from final
