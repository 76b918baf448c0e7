with source as (

    select * from {{ source('polymarket', 'market_tokens') }}

)

select
    token_id,
    condition_id,
    {{ hex_id_key('condition_id') }} as market_key,
    {{ token_id_key('token_id') }} as token_key,
    outcome_index,
    outcome
from source
