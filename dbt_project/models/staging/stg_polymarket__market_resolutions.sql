with source as (

    select * from {{ source('polymarket', 'market_resolutions') }}

),

renamed as (

    select
        token_id,
        condition_id,
        {{ hex_id_key('condition_id') }} as market_key,
        {{ token_id_key('token_id') }} as token_key,
        outcome_index,
        outcome,
        payout as payout_usd_per_share,
        is_winner,
        is_void,
        early as is_early_resolution,
        resolved_ts as resolved_at_unix,
        {{ unix_to_timestamp('resolved_ts') }} as resolved_at,
        partition_day as resolution_date

    from source

)

select * from renamed
