{#-
    Every fill on record: the market walk's trades, and the trades of the wallets whose
    activity is read that the market walk did not hold (in markets it never reached),
    each once by trade key.
-#}

with source as (

    select * from {{ source('polymarket', 'trades') }}

),

from_activity as (

    select
        a.activity_key as trade_key,
        a.transaction_hash,
        a.proxy_wallet,
        a.side,
        a.token_id,
        a.condition_id,
        a.size,
        a.price,
        a.timestamp,
        a.partition_day,
        a.outcome_index,
        a.title,
        a.event_slug,
        cast(null as {{ string_type() }}) as pseudonym,
        a.source_shape,
        a.ingested_at
    from {{ source('polymarket', 'activity') }} as a
    where a.type = 'TRADE'
      and not exists (select 1 from source as t where t.trade_key = a.activity_key)

),

fills as (

    select
        trade_key, transaction_hash, proxy_wallet, side, token_id, condition_id, size, price, timestamp,
        partition_day, outcome_index, title, event_slug, pseudonym, source_shape, ingested_at
    from source
    union all
    select * from from_activity

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
        outcome_index,
        title as market_title,
        event_slug,
        pseudonym,
        source_shape,
        ingested_at

    from fills

)

select * from renamed
