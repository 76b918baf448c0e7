{#-
    Fills of two different wallets on opposite sides of each other: a SELL by one and a BUY
    by the other of the same token, the same shares, at the same price (within half a
    tick), in one transaction or within `wash_crossing_window_seconds`. Each SELL is
    matched to at most one BUY, and each BUY to at most one SELL of the same day (the same
    transaction first, then the nearest in time). On real data the maker and the taker of
    an ordinary match cross like this too: one crossing means nothing; the same wallets
    crossing again and again (int_wallet_pairs) does.
    Incremental by the SELL's day: a partition window rebuilds its days, the day before
    it (whose last SELLs may cross the window's first BUYs) and the days after it (a
    backfilled day's BUYs may be crossed by the next day's first SELLs).
-#}

{#- It matches fills on the integer keys: after int_id_keys' test that they are one per id. -#}
-- depends_on: {{ ref('int_id_keys') }}
{{ config(**window_incremental(['sell_key'], replace_days_of='trade_date', days_before=1, through_last_day=true)) }}

{%- set window = var('wash_crossing_window_seconds') -%}
{%- if in_partition_window() -%}
    {%- set sells_from = days_before_window(1) -%}
    {%- set buys_from = days_before_window(2) -%}
{%- endif %}

with

-- Keys and numbers only (the ids are joined to the matches at the end): the join holds one
-- side of every fill in memory, and with the ids on it (wallet, token, condition,
-- transaction hash) 25M BUYs outgrew DuckDB's limit and spilled (28 s on 37.3M fills,
-- against 16 s narrow).
fills as {{ not_materialized() }} (

    select wallet_key, token_key, market_key, {{ hex_id_key('transaction_hash') }} as transaction_key, side, shares,
           price, notional_usd, traded_at_unix, trade_key, trade_date
    from {{ ref('stg_polymarket__trades') }}
    {% if in_partition_window() -%}
    where trade_date >= cast('{{ buys_from }}' as date)
    {%- endif %}

),

sells as (

    select wallet_key, token_key, market_key, transaction_key, shares, price, notional_usd, traded_at_unix, trade_key,
           trade_date
    from fills
    where side = 'SELL'
    {%- if in_partition_window() %}
      and trade_date >= cast('{{ sells_from }}' as date)
    {%- endif %}

),

buys as (

    select wallet_key, token_key, transaction_key, shares, price, traded_at_unix, trade_key
    from fills
    where side = 'BUY'

),

candidates as (

    select
        s.trade_key as sell_key,
        b.trade_key as buy_key,
        s.trade_date,
        s.wallet_key as seller_key,
        b.wallet_key as buyer_key,
        s.token_key,
        s.market_key,
        s.notional_usd,
        s.traded_at_unix,
        -- One transaction by its hash's integer key, as int_wallet_market_days groups one.
        s.transaction_key = b.transaction_key as same_transaction,
        abs(b.traded_at_unix - s.traded_at_unix) as gap_seconds
    from sells as s
    -- On the integer keys (one per id: int_id_keys' test), which hash and compare faster
    -- than the ids.
    inner join buys as b
        on b.token_key = s.token_key
        and b.shares = s.shares
        and b.wallet_key <> s.wallet_key
        and abs(b.price - s.price) < 0.005
        and b.traded_at_unix between s.traded_at_unix - {{ window }} and s.traded_at_unix + {{ window }}

),

nearest_for_sell as (

    select
        c.*,
        row_number() over (partition by sell_key
                           order by case when same_transaction then 0 else 1 end, gap_seconds, buy_key) as sell_rank
    from candidates as c

),

nearest_for_buy as (

    select
        c.*,
        row_number() over (partition by buy_key, trade_date
                           order by case when same_transaction then 0 else 1 end, gap_seconds, sell_key) as buy_rank
    from nearest_for_sell as c
    where sell_rank = 1

),

{{ ids_cte('wallet') }}

{{ ids_cte('market') }}

{{ ids_cte('token') }}

crossings as (

    select * from nearest_for_buy where buy_rank = 1

)

select
    c.sell_key,
    c.buy_key,
    c.trade_date,
    sellers.wallet_address as seller,
    buyers.wallet_address as buyer,
    ids_token.token_id,
    ids_market.condition_id,
    c.notional_usd,
    c.traded_at_unix,
    c.same_transaction,
    c.gap_seconds
from crossings as c
left join wallet_ids as sellers
    on sellers.wallet_key = c.seller_key
left join wallet_ids as buyers
    on buyers.wallet_key = c.buyer_key
{{ join_ids('c', ['market', 'token']) }}
