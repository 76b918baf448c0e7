{#-
    One row per wallet and market it held positions in (int_positions): their realized P&L
    added up, for the share of a wallet's profit from its best market
    (int_wallet_position_stats). Kept so that the per-wallet model groups a wallet's
    markets instead of every position by market.
    Incremental: a partition window adds up again the markets of the positions it touches
    (int_positions keeps a row for every position it ever had, so each such market still
    has one).
-#}

{#- touched_cte() refs it inside a conditional: declare it. -#}
-- depends_on: {{ ref('int_touched_positions') }}
{{ config(**window_incremental(['wallet_key', 'market_key'], replace_touched='positions', reads_own_rows=true)) }}

with

{{ touched_cte() }}

positions as (

    select p.wallet_key, p.market_key, p.realized_pnl_usd
    from {{ ref('int_positions') }} as p
    {%- if in_partition_window() %}
    where exists (
        select 1
        from {{ ref('int_positions') }} as t
        where t.wallet_key = p.wallet_key
          and t.market_key = p.market_key
          and exists (select 1 from touched as x where x.wallet_key = t.wallet_key and x.token_key = t.token_key)
    )
    {%- endif %}

)

select
    wallet_key,
    market_key,
    count(*) as positions,
    sum(realized_pnl_usd) as realized_pnl_usd
from positions
group by wallet_key, market_key
