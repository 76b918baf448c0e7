{#-
    Every fill on record: the market walk's trades, and the trades of the wallets whose
    activity is read that the market walk did not hold (in markets it never reached),
    each once by trade key. The key hashes the transaction (one block, one timestamp), so
    a fill held by both has the same day in both: matching within the day lets a reader
    of a few days skip the rest of the history.
-#}

with

activity_trades as (

    select * from {{ source('polymarket', 'activity') }}
    where type = 'TRADE'

),

already_held as (

    select a.activity_key
    from activity_trades as a
    inner join {{ source('polymarket', 'trades') }} as t
        on t.partition_day = a.partition_day
        and t.trade_key = a.activity_key

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
    from activity_trades as a
    where not exists (select 1 from already_held as h where h.activity_key = a.activity_key)

),

fills as (

    select
        trade_key, transaction_hash, proxy_wallet, side, token_id, condition_id, size, price, timestamp,
        partition_day, outcome_index, title, event_slug, pseudonym, source_shape, ingested_at
    from {{ source('polymarket', 'trades') }}
    union all
    select * from from_activity

),

renamed as (

    select
        trade_key,
        transaction_hash,
        proxy_wallet as wallet_address,
        {{ id_key_columns(wallet='proxy_wallet') }},
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
