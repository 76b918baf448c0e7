with source as (

    select * from {{ source('polymarket', 'trades') }}

),

renamed as (

    select
        trade_key,
        transaction_hash,
        proxy_wallet as wallet_address,
        side,
        token_id,
        condition_id,
        size as shares,
        price,
        size * price as notional_usd,
        timestamp as traded_at_unix,
        {{ unix_to_timestamp('timestamp') }} as traded_at,
        partition_day as trade_date,
        outcome,
        outcome_index,
        title as market_title,
        event_slug,
        pseudonym,
        source_shape,
        ingested_at

    from source

)

select * from renamed
