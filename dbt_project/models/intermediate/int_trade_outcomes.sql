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
    The walk is set-based (window functions), so it streams and spills however long a
    position's history: see the ledger CTEs below.
    A market's resolution changes no fill's accounting, so it is not kept here: readers
    join stg_polymarket__market_resolutions (int_positions settles what is still held).
    Incremental: a partition window deletes every fill from its first second on and walks
    again the fills of its days and the days after it,
    each position starting from its state after its last earlier fill (shares of known
    and of unknown cost, cost held: a CARRY row ahead of the new fills, never emitted),
    read from its row in int_positions when those rows hold every fill of the walk
    (walk_resume_from_positions), else from its earlier fills.
    A resolution in the window rewrites no earlier fill.
-#}

{#- Built after int_id_keys, whose test stops the models that group by keys if two ids share one. -#}
-- depends_on: {{ ref('int_id_keys') }}
{# A whole build of a large history runs in slices of wallets (fill_slices.sql). #}
{{ config(**window_incremental('trade_key', replace_seconds_of='traded_at_unix', sliced_by_wallet=true)) }}
{% set slices = fill_slices() %}

with

tokens as (

    select
        condition_id,
        token_id,
        token_key,
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
        a.wallet_key,
        k.token_key,
        a.market_key,
        case when a.activity_type = 'SPLIT' then 'BUY' else 'SELL' end as side,
        a.shares,
        1.0 / k.outcomes as price,
        a.shares / k.outcomes as notional_usd,
        a.occurred_at_unix as traded_at_unix,
        lower(a.activity_type) as event_kind
    from {{ ref('stg_polymarket__activity') }} as a
    inner join tokens as k
        on k.condition_id = a.condition_id
    where a.activity_type in ('SPLIT', 'MERGE') and a.shares > 0 and {{ in_fill_slice('a.wallet_address', slices) }}
    {%- if in_partition_window() %}
      and a.activity_date >= cast('{{ partition_start() }}' as date)
    {%- endif %}

),

-- Shares a CONVERSION delivers (when the record names the token and the shares) enter
-- the position with no cost on record: side IN, no price.
conversions as (

    select
        a.activity_key as trade_key,
        a.wallet_address,
        a.token_id,
        a.condition_id,
        a.wallet_key,
        a.token_key,
        a.market_key,
        'IN' as side,
        a.shares,
        cast(null as {{ double_type() }}) as price,
        cast(0 as {{ double_type() }}) as notional_usd,
        a.occurred_at_unix as traded_at_unix,
        'conversion' as event_kind
    from {{ ref('stg_polymarket__activity') }} as a
    where a.activity_type = 'CONVERSION' and a.token_id is not null and a.shares > 0
      and {{ in_fill_slice('a.wallet_address', slices) }}
    {%- if in_partition_window() %}
      and a.activity_date >= cast('{{ partition_start() }}' as date)
    {%- endif %}

),

moves as {{ not_materialized() }} (

    select
        trade_key, wallet_address, token_id, condition_id, wallet_key, token_key, market_key, side, shares, price,
        notional_usd, traded_at_unix, 'trade' as event_kind
    from {{ ref('stg_polymarket__trades') }}
    where {{ in_fill_slice('wallet_address', slices) }}
    {%- if in_partition_window() %}
      and trade_date >= cast('{{ partition_start() }}' as date)
    {%- endif %}
    union all
    select * from set_legs
    union all
    select * from conversions

),

-- Each walked position as one integer: the ledger's window passes below partition and
-- sort by it instead of by two keys, and carry only the numbers they need (every pass
-- holds the whole stream it reads). The fills' other columns are joined back once.
position_ids as (

    select
        p.wallet_key,
        p.token_key,
        {{ walk_position_id() }} as position_id
    from (select distinct wallet_key, token_key from moves) as p

),

{% if in_partition_window() -%}
{%- set resume = walk_resume_from_positions() -%}
{%- set from_earlier_fills -%}
    select
        ix.position_id,
        max(o.fill_seq) as fill_seq,
        {{ last_by('o.shares_after', 'o.fill_seq') }} as shares_after,
        {{ last_by('o.cost_after', 'o.fill_seq') }} as cost_after,
        {{ last_by('o.unknown_cost_shares_held_after', 'o.fill_seq') }} as unknown_cost_shares_held_after
    from {{ this }} as o
    inner join {{ 'rewalked' if resume else 'position_ids' }} as ix
        on ix.wallet_key = o.wallet_key
        and ix.token_key = o.token_key
    where o.traded_at_unix < {{ window_start_unix() }}
    group by ix.position_id
{%- endset %}
{%- if resume and resume.rows_from_window %}
-- Walked positions whose row in int_positions already counts fills from the window on
-- (the window run again, or a backfill): they resume from their earlier fills.
rewalked as (

    select ix.wallet_key, ix.token_key, ix.position_id
    from position_ids as ix
    inner join {{ resume.relation }} as p
        on p.wallet_key = ix.wallet_key
        and p.token_key = ix.token_key
    where p.last_fill_at_unix >= {{ window_start_unix() }}

),
{%- endif %}

-- Each walked position's state after its last fill before the window (the pre-hook has
-- deleted every later one).
position_state as (
{%- if resume %}

    -- int_positions holds every fill of the walk (walk_resume_from_positions): a position's
    -- row there is its state after its last fill, so its earlier fills are not read again.
    select
        ix.position_id,
        p.fills as fill_seq,
        p.open_shares as shares_after,
        p.open_cost_usd as cost_after,
        p.unknown_cost_shares_held as unknown_cost_shares_held_after
    from {{ resume.relation }} as p
    inner join position_ids as ix
        on ix.wallet_key = p.wallet_key
        and ix.token_key = p.token_key
    where p.last_fill_at_unix < {{ window_start_unix() }}
    {%- if resume.rows_from_window %}
    union all
{{ from_earlier_fills }}
    {%- endif %}
{%- else %}

    -- One grouped pass over their earlier fills.
{{ from_earlier_fills }}
{%- endif %}

),
{%- endif %}

fills as (

    select
        s.*,
        ix.position_id,
        {% if in_partition_window() %}coalesce(p.fill_seq, 0) + {% endif %}row_number() over (
            partition by ix.position_id
            order by s.traded_at_unix, case when s.side = 'SELL' then 1 else 0 end, s.trade_key
        ) as fill_seq,
        cast(0 as {{ double_type() }}) as carried_unknown_shares
    from moves as s
    inner join position_ids as ix
        on ix.wallet_key = s.wallet_key
        and ix.token_key = s.token_key
    {%- if in_partition_window() %}
    left join position_state as p
        on p.position_id = ix.position_id
    union all
    -- The state carried into the window: its shares of known cost (shares), the cost
    -- held (notional_usd) and its shares of unknown cost.
    select
        cast(null as {{ string_type() }}) as trade_key,
        cast(null as {{ string_type() }}) as wallet_address,
        cast(null as {{ string_type() }}) as token_id,
        -- A CARRY row only seeds the ledger's passes: its ids are not read.
        cast(null as {{ string_type() }}) as condition_id,
        ix.wallet_key,
        ix.token_key,
        cast(null as bigint) as market_key,
        'CARRY' as side,
        p.shares_after as shares,
        cast(null as {{ double_type() }}) as price,
        p.cost_after as notional_usd,
        cast({{ window_start_unix() }} - 1 as bigint) as traded_at_unix,
        'carry' as event_kind,
        p.position_id,
        p.fill_seq,
        p.unknown_cost_shares_held_after as carried_unknown_shares
    from position_state as p
    inner join position_ids as ix
        on ix.position_id = p.position_id
    {%- endif %}

),

-- The ledger, one window pass at a time (no recursion: a walk one fill per step costs a
-- join per step, and positions of market makers run to tens of thousands of fills).
-- Shares are counted in micro-shares (integers: outcome tokens have 6 decimals on chain),
-- so running sums are exact and the same on every engine, whatever the order it adds in.
-- Shares of known cost: BUYs add, SELLs remove at most what is held. A running sum
-- floored at zero is the running sum less its lowest point so far (Lindley's recursion).
micro_fills as (

    select
        f.position_id,
        f.fill_seq,
        f.side,
        f.shares,
        f.price,
        f.notional_usd,
        cast(round(f.shares * 1000000) as bigint) as micro_shares,
        cast(round(f.carried_unknown_shares * 1000000) as bigint) as micro_carried_unknown
    from fills as f

),

share_sums as (

    select
        d.*,
        sum(case
                when d.side in ('BUY', 'CARRY') then d.micro_shares
                when d.side = 'SELL' then -d.micro_shares
                else cast(0 as bigint)
            end) over ({{ position_so_far('d') }}) as cum_share_delta
    from micro_fills as d

),

known_shares as (

    select
        s.*,
        s.cum_share_delta - least(
            min(s.cum_share_delta) over ({{ position_so_far('s') }}),
            cast(0 as bigint)
        ) as micro_after
    from share_sums as s

),

known_shares_before as (

    select
        k.*,
        coalesce(lag(k.micro_after) over (partition by k.position_id order by k.fill_seq),
                 cast(0 as bigint)) as micro_before
    from known_shares as k

),

-- Shares of unknown cost: a CONVERSION adds them; a SELL beyond the shares of known cost
-- draws on them, never below zero (the same floored running sum).
unknown_deltas as (

    select
        k.*,
        cast(k.micro_after as {{ double_type() }}) / 1000000 as shares_after,
        cast(k.micro_before as {{ double_type() }}) / 1000000 as shares_before,
        case
            when k.side = 'IN' then k.micro_shares
            when k.side = 'CARRY' then k.micro_carried_unknown
            when k.side = 'SELL' and k.micro_shares > k.micro_before then k.micro_before - k.micro_shares
            else cast(0 as bigint)
        end as unknown_delta,
        -- A SELL that leaves no shares of known cost closes the position's cost: what
        -- follows starts a new stretch at zero cost.
        (k.side = 'SELL' and k.micro_after = 0) as is_sell_out,
        -- A partial SELL keeps the average cost: the cost held scales by shares after / before.
        case
            when k.side = 'SELL' and k.micro_after > 0 then ln(cast(k.micro_before as {{ double_type() }}) / k.micro_after)
            else cast(0 as {{ double_type() }})
        end as cost_decay
    from known_shares_before as k

),

unknown_sums as (

    select
        u.*,
        sum(u.unknown_delta) over ({{ position_so_far('u') }}) as cum_unknown_delta,
        coalesce(sum(case when u.is_sell_out then 1 else 0 end) over (
            partition by u.position_id order by u.fill_seq
            rows between unbounded preceding and 1 preceding
        ), 0) as cost_stretch
    from unknown_deltas as u

),

decays as (

    select
        u.*,
        cast(u.cum_unknown_delta - least(
            min(u.cum_unknown_delta) over ({{ position_so_far('u') }}),
            cast(0 as bigint)
        ) as {{ double_type() }}) / 1000000 as unknown_after,
        -- Total log decay of the cost since the stretch began (≥ 0, never decreasing).
        sum(u.cost_decay) over (
            partition by u.position_id, u.cost_stretch order by u.fill_seq
            rows between unbounded preceding and current row
        ) as decay_total
    from unknown_sums as u

),

-- Cost held after fill n of a stretch: every BUY k's cost decayed by the SELLs since,
-- Σ cost_k · exp(decay_k − decay_n). Summed in bands of 300 nats of decay so that no
-- exp() overflows: a band's terms are scaled to its own base, and the two bands before
-- the current one carry over (older terms weigh under e^-600, below any cent).
cost_terms as (

    select
        d.*,
        floor(d.decay_total / {{ cost_decay_band() }}) as decay_band,
        case
            when d.side = 'BUY' then d.shares * d.price
            when d.side = 'CARRY' then d.notional_usd
            else cast(0 as {{ double_type() }})
        end
            * exp(d.decay_total - floor(d.decay_total / {{ cost_decay_band() }}) * {{ cost_decay_band() }})
            as band_cost_term
    from decays as d

),

band_sums as (

    select
        c.*,
        sum(c.band_cost_term) over (
            partition by c.position_id, c.cost_stretch, c.decay_band order by c.fill_seq
            rows between unbounded preceding and current row
        ) as band_cost
    from cost_terms as c

),

earlier_bands as (

    select
        b.*,
        -- Costs are never negative, so a band's total is its largest running sum.
        max(b.band_cost) over (
            partition by b.position_id, b.cost_stretch order by b.decay_band
            range between 1 preceding and 1 preceding
        ) as previous_band_cost,
        max(b.band_cost) over (
            partition by b.position_id, b.cost_stretch order by b.decay_band
            range between 2 preceding and 2 preceding
        ) as second_previous_band_cost
    from band_sums as b

),

ledger_after as (

    select
        e.*,
        case
            when e.is_sell_out then cast(0 as {{ double_type() }})
            else exp(e.decay_band * {{ cost_decay_band() }} - e.decay_total)
                 * (e.band_cost
                    + coalesce(e.previous_band_cost, 0) * exp(-{{ cost_decay_band() }})
                    + coalesce(e.second_previous_band_cost, 0) * exp(-2 * {{ cost_decay_band() }}))
        end as cost_after
    from earlier_bands as e

),

ledger as (

    select
        l.*,
        coalesce(lag(l.cost_after) over (partition by l.position_id order by l.fill_seq),
                 cast(0 as {{ double_type() }})) as cost_before
    from ledger_after as l

),

outcomes as (

    select
        w.trade_key,
        w.wallet_address,
        w.token_id,
        w.condition_id,
        w.wallet_key,
        w.token_key,
        w.market_key,
        f.side,
        f.shares,
        f.price,
        f.notional_usd,
        w.traded_at_unix,
        w.event_kind,
        f.fill_seq,
        f.shares_before,
        f.cost_before,
        f.shares_after,
        f.cost_after,
        f.unknown_after as unknown_cost_shares_held_after,
        case when f.shares_before > 0 then f.cost_before / f.shares_before end as avg_cost_before,
        (f.side = 'SELL' and f.shares_before <= 0) as is_orphan_sell,
        -- Shares of this fill whose cost is on record (a BUY's are all known; none of an IN's).
        case
            when f.side = 'BUY' then f.shares
            when f.side = 'IN' or f.shares_before <= 0 then cast(0 as {{ double_type() }})
            when f.shares < f.shares_before then f.shares
            else f.shares_before
        end as known_cost_shares,
        case
            when f.side = 'SELL' and f.shares > f.shares_before
                then f.shares - greatest(f.shares_before, cast(0 as {{ double_type() }}))
            else cast(0 as {{ double_type() }})
        end as unknown_cost_shares,
        case
            when f.side = 'SELL' and f.shares_before > 0
                then (case when f.shares < f.shares_before then f.shares else f.shares_before end)
                     * (f.price - f.cost_before / f.shares_before)
        end as realized_pnl_usd
    from ledger as f
    inner join fills as w
        on w.position_id = f.position_id
        and w.fill_seq = f.fill_seq
    where f.side <> 'CARRY'

)

select
    o.*,
    o.unknown_cost_shares * o.price as unknown_cost_proceeds_usd
from outcomes as o
