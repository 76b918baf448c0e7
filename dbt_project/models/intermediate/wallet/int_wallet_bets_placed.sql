{#-
    Every bet — what one transaction of a wallet bought of one token — with the wallet's
    history at the moment it was placed: its fills (and their USD) at earlier seconds.
    What can still change after the bet (the wallet's first sighting, the market's close,
    the outcome) is joined on in int_wallet_bets.
    Incremental: a partition window rebuilds the bets of its days and of the days after
    it (whose history includes the window's); the history before the window comes from
    the per-day sums of int_wallet_market_days.
-#}

{# A whole build of a large history runs in slices of wallets (fill_slices.sql). #}
{{ config(**window_incremental(['wallet_address', 'transaction_hash', 'token_id'], replace_days_of='trade_date',
                               through_last_day=true, sliced_by_wallet=true)) }}
{% set slices = fill_slices() %}

-- depends_on: {{ ref('int_wallet_market_days') }}

with

fills as {{ not_materialized() }} (

    -- Keys, not ids (the wallet's, token's and market's are joined to the bets at the end):
    -- carried through the grouping of tens of millions of bets, each id costs about as much
    -- as the sums.
    select wallet_key, market_key, token_key, transaction_hash, side, shares, notional_usd, traded_at_unix, trade_date
    from {{ ref('stg_polymarket__trades') }}
    where {{ in_fill_slice('wallet_address', slices) }}
    {% if in_partition_window() -%}
      and trade_date >= cast('{{ partition_start() }}' as date)
    {%- endif %}

),

{% if in_partition_window() -%}
-- The wallet's fills on the days before the window.
history_before as (

    select wallet_key, sum(fills) as fills, sum(volume_usd) as volume_usd
    from {{ ref('int_wallet_market_days') }}
    where trade_date < cast('{{ partition_start() }}' as date)
    group by wallet_key

),
{%- endif %}

wallet_seconds as (

    select wallet_key, traded_at_unix, count(*) as fills, sum(notional_usd) as volume_usd
    from fills
    group by wallet_key, traded_at_unix

),

history as (

    select
        s.wallet_key,
        s.traded_at_unix,
        {% if in_partition_window() %}coalesce(h.fills, 0) + {% endif %}(sum(s.fills) over w) - s.fills as prior_fills,
        {% if in_partition_window() %}coalesce(h.volume_usd, 0) + {% endif %}((sum(s.volume_usd) over w) - s.volume_usd)
            as prior_volume_usd
    from wallet_seconds as s
    {%- if in_partition_window() %}
    left join history_before as h
        on h.wallet_key = s.wallet_key
    {%- endif %}
    window w as (partition by s.wallet_key order by s.traded_at_unix rows between unbounded preceding and current row)

),

{{ ids_cte('wallet') }}

{{ ids_cte('market') }}

{{ ids_cte('token') }}

bets as (

    select
        -- Grouped by the integer keys (a transaction by its hash's); the hash is the same
        -- on every row of a bet.
        min(transaction_hash) as transaction_hash,
        wallet_key,
        token_key,
        min(market_key) as market_key,
        min(trade_date) as trade_date,
        min(traded_at_unix) as bet_at_unix,
        sum(notional_usd) as bet_usd,
        sum(shares) as bet_shares
    from fills
    where side = 'BUY'
    group by wallet_key, {{ hex_id_key('transaction_hash') }}, token_key

)

select
    ids_wallet.wallet_address,
    b.transaction_hash,
    ids_token.token_id,
    ids_market.condition_id,
    b.wallet_key,
    b.market_key,
    b.token_key,
    b.trade_date,
    b.bet_at_unix,
    b.bet_usd,
    b.bet_shares,
    cast(h.prior_fills as bigint) as prior_fills,
    h.prior_volume_usd
from bets as b
inner join history as h
    on h.wallet_key = b.wallet_key
    and h.traded_at_unix = b.bet_at_unix
{{ join_ids('b') }}
