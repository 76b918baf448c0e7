with source as (

    select * from {{ source('polymarket', 'market_tags') }}

)

select
    condition_id,
    position as tag_position,
    tag_id,
    tag_slug,
    tag_label,
    tag_source
from source
