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
    Incremental: a partition window recomputes the positions it touches. Each adds the
    fills the walk rewrote (from the window's first second on) to its own row as the run
    before left it, when that row ends before the window and the rows count every earlier
    fill of the walk (positions_resume_from_own_rows); otherwise it sums all its fills.
-#}

{#- touched_cte() refs it inside a conditional: declare it. -#}
-- depends_on: {{ ref('int_touched_positions') }}
{{ config(**window_incremental(['wallet_key', 'token_key'], replace_touched='positions', reads_own_rows=true)) }}

with

{{ touched_cte() }}

{% set resume = positions_resume_from_own_rows() if in_partition_window() else none -%}
{%- if resume -%}
-- The fills the walk rewrote (from the window's first second on) of the touched positions.
window_outcomes as {{ not_materialized() }} (

    select o.*
    from {{ ref('int_trade_outcomes') }} as o
    {{ where_touched('o') }}
    and o.traded_at_unix >= {{ window_start_unix() }}

),

window_sums as (

    select {{ position_sums() }}
    from window_outcomes
    group by wallet_key, token_key

),

-- Each touched position before the window: its own row as the run before left it, when
-- that row ends before the window (positions_resume_from_own_rows checked that the rows
-- count every earlier fill of the walk).
earlier_sums as (

    select {{ position_sum_columns('p') }}
    from {{ this }} as p
    {{ where_touched('p') }}
    and p.last_fill_at_unix < {{ window_start_unix() }}
    {%- if resume.rows_from_window %}
    union all
    -- Rows that already count fills from the window on (the window run again, a backfill):
    -- from the position's earlier fills.
    select {{ position_sums() }}
    from {{ ref('int_trade_outcomes') }} as o
    where exists (
        select 1 from {{ this }} as p
        where p.wallet_key = o.wallet_key and p.token_key = o.token_key
          and p.last_fill_at_unix >= {{ window_start_unix() }}
          and exists (select 1 from touched as x where x.wallet_key = p.wallet_key and x.token_key = p.token_key)
    )
    and o.traded_at_unix < {{ window_start_unix() }}
    group by wallet_key, token_key
    {%- endif %}

),

aggregated as (

    select {{ position_sums_added('e', 'w') }}
    from earlier_sums as e
    full outer join window_sums as w
        on w.wallet_key = e.wallet_key
        and w.token_key = e.token_key

),
{%- else -%}
outcomes as {{ not_materialized() }} (

    select o.*
    from {{ ref('int_trade_outcomes') }} as o
    {{ where_touched('o') }}

),

aggregated as (

    -- Keys only: the ids are joined to the result (reading them from every fill would
    -- cost as much as the rest of the scan).
    select {{ position_sums() }}
    from outcomes
    group by wallet_key, token_key

),
{%- endif %}

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
