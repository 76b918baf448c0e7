{#-
    Every moment a wallet realized P&L, with the capital that P&L was earned on:
    - a SELL realizes known shares × (price − average cost) on the capital known shares ×
      average cost, where the known shares are those on record (see int_trade_outcomes);
    - a resolution settles the shares still held: shares × payout − remaining cost, on
      the remaining cost, on the resolution day.
    Shares of unknown cost (sold beyond the record) realize nothing known and are left out.
    Incremental: a partition window replaces the SELLs from its first second on (the
    fills int_trade_outcomes walked again: the window's and every later day's) and the
    settlements of the positions it touches. An earlier SELL's accounting does not change.
-#}

{#- touched_cte() refs it inside a conditional: declare it. -#}
-- depends_on: {{ ref('int_touched_positions') }}
{{ config(**window_incremental('realization_key', replace_touched='positions',
                               touched_rows="realization_kind = 'settlement'",
                               replace_seconds_of='realized_at_unix', seconds_rows="realization_kind = 'sell'")) }}

with

{{ touched_cte() }}

outcomes as (

    select o.*
    from {{ ref('int_trade_outcomes') }} as o
    {%- if in_partition_window() %}
    where o.traded_at_unix >= {{ window_start_unix() }}
    {%- endif %}

),

positions as (

    select p.*
    from {{ ref('int_positions') }} as p
    {{ where_touched('p') }}

),

markets as (

    select market_key, category from {{ ref('int_market_categories') }}

),

-- Keys only (and a sell's trade key): the ids are joined to the few rows that realize.
sells as (

    select
        trade_key,
        wallet_key,
        token_key,
        market_key,
        'sell' as realization_kind,
        traded_at_unix as realized_at_unix,
        realized_pnl_usd,
        known_cost_shares * avg_cost_before as capital_usd
    from outcomes
    where side = 'SELL' and known_cost_shares > 0

),

settlements as (

    select
        cast(null as {{ string_type() }}) as trade_key,
        wallet_key,
        token_key,
        market_key,
        'settlement' as realization_kind,
        resolved_at_unix as realized_at_unix,
        settlement_pnl_usd as realized_pnl_usd,
        open_cost_usd as capital_usd
    from positions
    where is_resolved and open_shares > 1e-9

),

unioned as (

    select * from sells
    union all
    select * from settlements

),

{{ ids_cte('wallet') }}

{{ ids_cte('market') }}

{{ ids_cte('token') }}

with_ids as (

    select
        coalesce(u.trade_key, ids_wallet.wallet_address || ':' || ids_token.token_id || ':settlement')
            as realization_key,
        ids_wallet.wallet_address,
        ids_token.token_id,
        ids_market.condition_id,
        u.wallet_key,
        u.token_key,
        u.market_key,
        u.realization_kind,
        u.realized_at_unix,
        u.realized_pnl_usd,
        u.capital_usd
    from unioned as u
    {{ join_ids('u') }}

)

select
    u.*,
    cast({{ unix_to_timestamp('u.realized_at_unix') }} as date) as realized_date,
    coalesce(c.category, 'unknown') as category
from with_ids as u
left join markets as c
    on c.market_key = u.market_key
