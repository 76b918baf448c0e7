{#-
    One row per wallet and market it held positions in (int_positions): their realized P&L
    added up, for the share of a wallet's profit from its best market
    (int_wallet_position_stats). Kept so that the per-wallet model groups a wallet's
    markets instead of every position by market.
    Incremental: a partition window adds up again the markets of the positions it touches
    (int_touched_positions carries each one's market; int_positions keeps a row for every
    position it ever had, so each such market still has one).
-#}

-- depends_on: {{ ref('int_touched_positions') }}
{{ config(**window_incremental(['wallet_key', 'market_key'], replace_touched='markets', reads_own_rows=true)) }}

with

positions as (

    select p.wallet_key, p.market_key, p.realized_pnl_usd
    from {{ ref('int_positions') }} as p
    {%- if in_partition_window() %}
    where {{ touched_in_window_exists(ref('int_touched_positions'), 'p', 'markets') }}
    {%- endif %}

)

select
    wallet_key,
    market_key,
    count(*) as positions,
    sum(realized_pnl_usd) as realized_pnl_usd
from positions
group by wallet_key, market_key
