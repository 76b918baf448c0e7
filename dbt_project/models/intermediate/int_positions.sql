{#-
    One row per wallet × outcome token: what was bought and sold, what the sells
    realized at average cost, and — once the market is resolved — the settlement of
    the shares still held (payout 1 winner, 0 loser, 0.5 void) against their remaining
    cost. A position is closed once resolved or fully sold; its outcome is then won, lost
    or flat (|P&L| ≤ 1e-9 USD). Positions still holding shares in unresolved markets are
    kept, marked open, and count neither as wins nor losses; positions seen only through
    orphan SELLs are 'unknown'. Shares sold beyond those on record (bought before the
    window, or received by split, conversion or transfer) are counted as shares of
    unknown cost, with the USD they were sold for: they realize no P&L here.
    Redemptions are settlements: they pay exactly the resolution payout modelled here.
    Incremental: a partition window recomputes the positions it touches.
-#}

{#- touched_cte() refs it inside a conditional: declare it. -#}
-- depends_on: {{ ref('int_touched_positions') }}
{{ config(**window_incremental(['wallet_key', 'token_key'], replace_touched='positions')) }}

with

{{ touched_cte() }}

outcomes as {{ not_materialized() }} (

    select o.*
    from {{ ref('int_trade_outcomes') }} as o
    {{ where_touched('o') }}

),

aggregated as (

    select
        -- Keys only: the ids are joined to the result (reading them from every fill would
        -- cost as much as the rest of the scan).
        wallet_key,
        token_key,
        min(market_key) as market_key,
        count(*) as fills,
        sum(case when side = 'BUY' then shares else 0 end) as bought_shares,
        sum(case when side = 'BUY' then notional_usd else 0 end) as bought_usd,
        sum(case when side = 'SELL' then shares else 0 end) as sold_shares,
        sum(case when side = 'SELL' then notional_usd else 0 end) as sold_usd,
        sum(coalesce(realized_pnl_usd, 0)) as sells_realized_pnl_usd,
        sum(case when is_orphan_sell then 1 else 0 end) as orphan_sells,
        sum(unknown_cost_shares) as unknown_cost_shares,
        sum(case when unknown_cost_shares > 0 then 1 else 0 end) as unknown_cost_fills,
        sum(unknown_cost_proceeds_usd) as unknown_cost_proceeds_usd,
        sum(case when side = 'IN' then shares else 0 end) as converted_in_shares,
        min(traded_at_unix) as opened_at_unix,
        max(traded_at_unix) as last_fill_at_unix,
        -- What the last fill left (in the same pass: a second read of the fills costs a scan).
        {{ last_by('shares_after', 'fill_seq') }} as open_shares,
        {{ last_by('cost_after', 'fill_seq') }} as open_cost_usd,
        {{ last_by('unknown_cost_shares_held_after', 'fill_seq') }} as unknown_cost_shares_held
    from outcomes
    group by wallet_key, token_key

),

{{ ids_cte('wallet') }}

{{ ids_cte('market') }}

{{ ids_cte('token') }}

resolved as (

    select
        ids_wallet.wallet_address,
        ids_token.token_id,
        ids_market.condition_id,
        a.*,
        r.payout_usd_per_share,
        r.resolved_at_unix,
        (r.token_id is not null) as is_resolved,
        coalesce(r.is_void, false) as is_void
    from aggregated as a
    {{ join_ids('a') }}
    left join {{ ref('stg_polymarket__market_resolutions') }} as r
        on r.token_key = a.token_key

),

final as (

    select
        a.*,
        case
            when a.is_resolved then a.open_shares * a.payout_usd_per_share - a.open_cost_usd
            else 0
        end as settlement_pnl_usd,
        a.sells_realized_pnl_usd
            + case
                when a.is_resolved then a.open_shares * a.payout_usd_per_share - a.open_cost_usd
                else 0
            end as realized_pnl_usd,
        (a.is_resolved or (a.open_shares <= 1e-9 and a.unknown_cost_shares_held <= 1e-9)) as is_closed,
        case
            -- Nothing entered at a known cost (only sells beyond the record, or conversions).
            when a.bought_shares = 0 then 'unknown'
            when not (a.is_resolved or (a.open_shares <= 1e-9 and a.unknown_cost_shares_held <= 1e-9)) then 'open'
            when a.sells_realized_pnl_usd
                + case when a.is_resolved then a.open_shares * a.payout_usd_per_share - a.open_cost_usd else 0 end
                > 1e-9 then 'won'
            when a.sells_realized_pnl_usd
                + case when a.is_resolved then a.open_shares * a.payout_usd_per_share - a.open_cost_usd else 0 end
                < -1e-9 then 'lost'
            else 'flat'
        end as outcome,
        -- P&L over the USD bought, once closed. Taker fees are not in the Data API's
        -- trade records, so positions are measured before fees.
        case
            when (a.is_resolved or (a.open_shares <= 1e-9 and a.unknown_cost_shares_held <= 1e-9)) and a.bought_usd > 0
                then (a.sells_realized_pnl_usd
                      + case when a.is_resolved then a.open_shares * a.payout_usd_per_share - a.open_cost_usd
                             else 0 end) / a.bought_usd
        end as roi,
        -- Seconds from the first fill to the last exit or the resolution.
        case
            when a.is_resolved and a.open_shares > 1e-9 then a.resolved_at_unix - a.opened_at_unix
            else a.last_fill_at_unix - a.opened_at_unix
        end as hold_seconds
    from resolved as a

)

select * from final
