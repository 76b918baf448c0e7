{#-
    Each market's category, read from its tags through the taxonomy seed
    (seeds/category_tags.csv: tag_slug → category, priority). Real Gamma markets
    usually carry no category field; what they are about is in their own tags and
    their event's. Among a market's mapped tags the lowest priority decides, ties going
    to the tag served first; a legacy Gamma category field is mapped through the same
    table; a market nothing maps is 'unknown' — its own value, never guessed.
    The execution plane applies the same rule to the same seed
    (polycopy.polymarket.categories).
-#}

{{ config(materialized='view') }}

with

taxonomy as (

    select tag_slug, category, priority from {{ ref('category_tags') }}

),

mapped_tags as (

    select
        t.condition_id,
        x.category,
        t.tag_slug,
        row_number() over (
            partition by t.condition_id order by x.priority, t.tag_position, t.tag_slug
        ) as rank_in_market
    from {{ ref('stg_polymarket__market_tags') }} as t
    inner join taxonomy as x
        on x.tag_slug = t.tag_slug

),

markets as (

    select condition_id, gamma_category from {{ ref('stg_polymarket__markets') }}

),

legacy as (

    select m.condition_id, x.category, x.tag_slug
    from markets as m
    inner join taxonomy as x
        on x.tag_slug = replace(lower(trim(m.gamma_category)), ' ', '-')

)

select
    m.condition_id,
    {{ hex_id_key('m.condition_id') }} as market_key,
    coalesce(t.category, l.category, 'unknown') as category,
    coalesce(t.tag_slug, l.tag_slug) as category_tag,
    case
        when t.category is not null then 'tag'
        when l.category is not null then 'gamma_category'
        else 'unknown'
    end as category_source
from markets as m
left join mapped_tags as t
    on t.condition_id = m.condition_id
    and t.rank_in_market = 1
left join legacy as l
    on l.condition_id = m.condition_id
