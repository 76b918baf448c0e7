with source as (

    select * from {{ source('polymarket', 'market_tokens') }}

)

select
    token_id,
    condition_id,
    outcome_index,
    outcome
from source
