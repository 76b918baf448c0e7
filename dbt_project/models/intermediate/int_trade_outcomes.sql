{#-
    Every fill with its position accounting, by the average-cost method — and, for the
    wallets whose activity is read, the legs of their splits and merges (event_kind).

    A position is one wallet in one outcome token. Fills are taken in time order
    (within one second BUYs before SELLs: shares must be held before they are sold).
    A BUY adds shares and cost; a SELL removes at most the shares on record, realizing
    known_shares × (price − average cost) and leaving the average unchanged.
    Histories seen through a window are partial: a wallet sells shares bought before the
    first ingested day, or obtained by split, conversion or transfer. The part of a SELL
    beyond the shares on record is "shares of unknown cost": counted in its own columns
    (with the USD it was sold for), never subtracted below zero and never given a cost,
    so it realizes no P&L and puts no capital at risk. A SELL with no shares on record at
    all is an orphan.
    The recursion walks each position one fill at a time, the way a ledger would.
    Incremental: a partition window recomputes every fill of the positions it touches.
-#}

{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='trade_key') }}

with recursive

{{ touched_cte() }}

tokens as (

    select
        condition_id,
        token_id,
        count(*) over (partition by condition_id) as outcomes
    from {{ ref('stg_polymarket__market_tokens') }}

),

-- A SPLIT mints one share of every outcome per USD and a MERGE burns complete sets for
-- 1 USD: legs at 1 / outcomes each (Polymarket's own P&L convention; a wallet's P&L over
-- the market is exact whatever the split of the set's cost between its legs).
set_legs as (

    select
        a.activity_key || ':' || k.token_id as trade_key,
        a.wallet_address,
        k.token_id,
        a.condition_id,
        case when a.activity_type = 'SPLIT' then 'BUY' else 'SELL' end as side,
        a.shares,
        1.0 / k.outcomes as price,
        a.shares / k.outcomes as notional_usd,
        a.occurred_at_unix as traded_at_unix,
        lower(a.activity_type) as event_kind
    from {{ ref('stg_polymarket__activity') }} as a
    inner join tokens as k
        on k.condition_id = a.condition_id
    where a.activity_type in ('SPLIT', 'MERGE') and a.shares > 0

),

-- Shares a CONVERSION delivers (when the record names the token and the shares) enter
-- the position with no cost on record: side IN, no price.
conversions as (

    select
        a.activity_key as trade_key,
        a.wallet_address,
        a.token_id,
        a.condition_id,
        'IN' as side,
        a.shares,
        cast(null as double precision) as price,
        cast(0 as double precision) as notional_usd,
        a.occurred_at_unix as traded_at_unix,
        'conversion' as event_kind
    from {{ ref('stg_polymarket__activity') }} as a
    where a.activity_type = 'CONVERSION' and a.token_id is not null and a.shares > 0

),

moves as (

    select
        trade_key, wallet_address, token_id, condition_id, side, shares, price, notional_usd, traded_at_unix,
        'trade' as event_kind
    from {{ ref('stg_polymarket__trades') }}
    union all
    select * from set_legs
    union all
    select * from conversions

),

fills as (

    select
        s.*,
        row_number() over (
            partition by s.wallet_address, s.token_id
            order by s.traded_at_unix, case when s.side = 'SELL' then 1 else 0 end, s.trade_key
        ) as fill_seq
    from moves as s
    {{ where_touched('s') }}

),

ledger as (

    select
        f.trade_key,
        f.wallet_address,
        f.token_id,
        f.fill_seq,
        cast(0 as double precision) as shares_before,
        cast(0 as double precision) as cost_before,
        case when f.side = 'BUY' then f.shares else cast(0 as double precision) end as shares_after,
        case when f.side = 'BUY' then f.shares * f.price else cast(0 as double precision) end as cost_after,
        cast(0 as double precision) as other_before,
        case when f.side = 'IN' then f.shares else cast(0 as double precision) end as other_after
    from fills as f
    where f.fill_seq = 1

    union all

    select
        f.trade_key,
        f.wallet_address,
        f.token_id,
        f.fill_seq,
        l.shares_after as shares_before,
        l.cost_after as cost_before,
        case
            when f.side = 'BUY' then l.shares_after + f.shares
            when f.side = 'IN' then l.shares_after
            when f.shares >= l.shares_after then cast(0 as double precision)
            else l.shares_after - f.shares
        end as shares_after,
        case
            when f.side = 'BUY' then l.cost_after + f.shares * f.price
            when f.side = 'IN' then l.cost_after
            when f.shares >= l.shares_after then cast(0 as double precision)
            else l.cost_after - f.shares * (l.cost_after / l.shares_after)
        end as cost_after,
        l.other_after as other_before,
        -- A SELL beyond the shares of known cost draws on the shares held of unknown cost.
        case
            when f.side = 'IN' then l.other_after + f.shares
            when f.side = 'SELL' and f.shares > l.shares_after
                then greatest(l.other_after - (f.shares - l.shares_after), cast(0 as double precision))
            else l.other_after
        end as other_after
    from ledger as l
    inner join fills as f
        on f.wallet_address = l.wallet_address
        and f.token_id = l.token_id
        and f.fill_seq = l.fill_seq + 1

),

outcomes as (

    select
        f.trade_key,
        f.wallet_address,
        f.token_id,
        f.condition_id,
        f.side,
        f.shares,
        f.price,
        f.notional_usd,
        f.traded_at_unix,
        f.event_kind,
        f.fill_seq,
        l.shares_before,
        l.cost_before,
        l.shares_after,
        l.cost_after,
        l.other_after as unknown_cost_shares_held_after,
        case when l.shares_before > 0 then l.cost_before / l.shares_before end as avg_cost_before,
        (f.side = 'SELL' and l.shares_before <= 0) as is_orphan_sell,
        -- Shares of this fill whose cost is on record (a BUY's are all known; none of an IN's).
        case
            when f.side = 'BUY' then f.shares
            when f.side = 'IN' or l.shares_before <= 0 then cast(0 as double precision)
            when f.shares < l.shares_before then f.shares
            else l.shares_before
        end as known_cost_shares,
        case
            when f.side = 'SELL' and f.shares > l.shares_before
                then f.shares - greatest(l.shares_before, cast(0 as double precision))
            else cast(0 as double precision)
        end as unknown_cost_shares,
        case
            when f.side = 'SELL' and l.shares_before > 0
                then (case when f.shares < l.shares_before then f.shares else l.shares_before end)
                     * (f.price - l.cost_before / l.shares_before)
        end as realized_pnl_usd
    from fills as f
    inner join ledger as l
        on l.trade_key = f.trade_key
        and l.wallet_address = f.wallet_address
        and l.token_id = f.token_id

),

resolved as (

    select token_id, payout_usd_per_share, is_winner, is_void, resolved_at_unix
    from {{ ref('stg_polymarket__market_resolutions') }}

),

final as (

    select
        o.*,
        r.payout_usd_per_share,
        r.resolved_at_unix,
        r.is_void,
        (r.token_id is not null) as is_resolved,
        o.unknown_cost_shares * o.price as unknown_cost_proceeds_usd,
        -- What this fill earns if its shares are held to the resolution (USD): the
        -- per-fill view of "won or lost", before exits and fees.
        case
            when r.token_id is null then null
            when o.side = 'BUY' then o.shares * (r.payout_usd_per_share - o.price)
            else o.shares * (o.price - r.payout_usd_per_share)
        end as hold_to_resolution_pnl_usd
    from outcomes as o
    left join resolved as r
        on r.token_id = o.token_id

)

select * from final
