{#-
    Realized P&L per wallet per day (UTC), and the day's return on capital.

    daily_return = realized P&L that day / the wallet's capital at risk that day: the cost
    (average cost, shares of known cost) it held at the start of the day in positions not
    yet settled, plus the cost of what it bought during the day. A wallet's cash balance is
    not observable; the capital it has put into open positions is, so a loss is measured
    against everything the wallet had at stake, not only against the position that lost
    (which would make every losing day −100 %). The capital of a day depends on the fills
    up to that day only: a later buy never raises an earlier day's base, and a sell lowers
    it from the next day. A position leaves it after its settlement day; fills after that
    day (a resolved market traded late) put nothing at risk. Days without any realization
    have a zero return; days with neither trades nor realizations have no row, and metrics
    that need a calendar series (Sharpe, drawdown) fill them with a zero return.
    Volume and trade counts are by trade day (int_wallet_market_days).
    Incremental: a partition window rewrites, for each wallet it touches, the days from its
    first day on, starting from the cost the wallet held before it: what its positions not
    settled before the window hold now, less what the window's fills changed. Earlier days
    keep their rows, since their capital depends on earlier fills only. A wallet whose
    earlier realizations changed (a touched position settled before the window, or a
    realization day that no longer adds up to its row: a re-ingested resolution) is rebuilt
    from its first day. The rows that did not change are not written again (a rewritten
    row costs its delete, its insert and their checkpoint); a day that no longer has a row
    (its fills or its settlement gone from a re-ingested record) is written empty and
    deleted after the insert.
-#}

{#- touched_cte() and realization_days_to_rebuild() ref it inside a conditional: declare it. -#}
-- depends_on: {{ ref('int_touched_positions') }}
{{ config(**window_incremental(['wallet_key', 'activity_date'], replace_touched='wallets', reads_own_rows=true)) }}
{{ config(post_hook="{% if in_partition_window() %}delete from {{ this }} where realizations = 0 and trades = 0{% endif %}") }}
{%- set value_columns = ['wallet_address', 'realized_pnl_usd', 'capital_realized_usd', 'capital_held_usd',
                         'capital_at_risk_usd', 'return_base_usd', 'daily_return', 'realizations', 'trades',
                         'volume_usd', 'bought_usd'] %}
{%- set window = in_partition_window() %}
{#- Micro-USD integers: the cost held telescopes exactly, fill by fill, whatever the order of the sums. -#}
{%- set micro = 1000000 %}

with

{{ touched_cte() }}

{% if window -%}
-- Realization days before the window that may no longer add up to this table's rows.
earlier_days_to_check as (

    select realized_date
    from ({{ realization_days_to_rebuild(this, 'capital_realized_usd') }}) as d
    where realized_date < cast('{{ partition_start() }}' as date)

),

-- The wallets rebuilt from their first day: a touched position settled before the window
-- (a fill after the resolution changed what it settled), or a realization day before the
-- window that no longer matches the wallet's row.
rebuilt_wallets as (

    select p.wallet_key
    from {{ ref('int_positions') }} as p
    where p.is_resolved
      and p.resolved_at_unix < {{ window_start_unix() }}
      and exists (select 1 from touched as x where x.wallet_key = p.wallet_key and x.token_key = p.token_key)
    union
    select coalesce(r.wallet_key, k.wallet_key) as wallet_key
    from (
        select wallet_key, realized_date, count(*) as realizations, sum(capital_usd) as capital_usd,
               sum(realized_pnl_usd) as realized_pnl_usd
        from {{ ref('int_wallet_realizations') }}
        where realized_date in (select realized_date from earlier_days_to_check)
        group by wallet_key, realized_date
    ) as r
    full outer join (
        select wallet_key, activity_date, realizations, capital_realized_usd as capital_usd, realized_pnl_usd
        from {{ this }}
        where activity_date in (select realized_date from earlier_days_to_check) and realizations > 0
    ) as k
        on k.wallet_key = r.wallet_key
        and k.activity_date = r.realized_date
    where r.wallet_key is null
       or k.wallet_key is null
       or r.realizations <> k.realizations
       or abs(r.capital_usd - k.capital_usd) > 1e-9 * greatest(1, abs(r.capital_usd))
       or abs(r.realized_pnl_usd - k.realized_pnl_usd) > 1e-9 * greatest(1, abs(r.realized_pnl_usd))

),

-- Each wallet this run rewrites, from which day (null: from its first).
wallet_starts as (

    select distinct x.wallet_key, cast('{{ partition_start() }}' as date) as start_date
    from touched as x
    where not exists (select 1 from rebuilt_wallets as b where b.wallet_key = x.wallet_key)
    union all
    select wallet_key, cast(null as date) as start_date
    from rebuilt_wallets

),
{%- endif %}

realizations as (

    select
        z.wallet_key,
        z.realized_date as activity_date,
        sum(z.realized_pnl_usd) as realized_pnl_usd,
        sum(z.capital_usd) as capital_realized_usd,
        count(*) as realizations
    from {{ ref('int_wallet_realizations') }} as z
    {{ where_rewritten_day('z', 'realized_date') }}
    group by z.wallet_key, z.realized_date

),

positions as (

    select
        p.wallet_key,
        p.token_key,
        {% if window %}s.start_date{% else %}cast(null as date){% endif %} as start_date,
        cast(round(p.open_cost_usd * {{ micro }}) as bigint) as held_micro_usd,
        case when p.is_resolved then cast({{ unix_to_timestamp('p.resolved_at_unix') }} as date) end as settled_date
    from {{ ref('int_positions') }} as p
    {%- if window %}
    inner join wallet_starts as s
        on s.wallet_key = p.wallet_key
    {%- endif %}

),

-- What each fill changed in its position's cost held (a BUY adds its cost, a SELL takes
-- off the average cost of the shares it sold): the fills of the rewritten days.
fill_moves as {{ not_materialized() }} (

    select o.wallet_key, o.token_key, o.traded_at_unix, o.side, o.cost_before, o.cost_after
    from {{ ref('int_trade_outcomes') }} as o
    {%- if window %}
    where o.traded_at_unix >= {{ window_start_unix() }}
      and not exists (select 1 from rebuilt_wallets as b where b.wallet_key = o.wallet_key)
    union all
    select o.wallet_key, o.token_key, o.traded_at_unix, o.side, o.cost_before, o.cost_after
    from {{ ref('int_trade_outcomes') }} as o
    where exists (select 1 from rebuilt_wallets as b where b.wallet_key = o.wallet_key)
    {%- endif %}

),

cost_moves as (

    select
        m.wallet_key,
        m.token_key,
        cast({{ unix_to_timestamp('m.traded_at_unix') }} as date) as move_date,
        m.side,
        cast(round(m.cost_after * {{ micro }}) as bigint) - cast(round(m.cost_before * {{ micro }}) as bigint)
            as micro_usd,
        p.settled_date
    from fill_moves as m
    inner join positions as p
        on p.wallet_key = m.wallet_key
        and p.token_key = m.token_key

),

-- Per position: the cost it held before the wallet's first rewritten day (its cost now,
-- less what the rewritten days' fills moved; 0 when the wallet is rebuilt from its first
-- day), and what its fills up to its settlement day moved (those after it are not counted).
position_costs as (

    select
        p.wallet_key,
        p.settled_date,
        case when p.start_date is null then cast(0 as bigint) else p.held_micro_usd - coalesce(c.moved, 0) end
            as held_before_micro_usd,
        coalesce(c.counted, 0) as counted_micro_usd
    from positions as p
    left join (
        select
            wallet_key,
            token_key,
            sum(micro_usd) as moved,
            sum(case when settled_date is null or move_date <= settled_date then micro_usd else 0 end) as counted
        from cost_moves
        group by wallet_key, token_key
    ) as c
        on c.wallet_key = p.wallet_key
        and c.token_key = p.token_key
    -- Positions settled before the rewritten days hold nothing in them.
    where p.start_date is null or p.settled_date is null or p.settled_date >= p.start_date

),

held_before as (

    select wallet_key, sum(held_before_micro_usd) as micro_usd
    from position_costs
    group by wallet_key

),

trading as (

    select
        s.wallet_key,
        s.trade_date as activity_date,
        cast(sum(s.fills) as bigint) as trades,
        sum(s.volume_usd) as volume_usd,
        sum(s.buy_volume_usd) as bought_usd
    from {{ ref('int_wallet_market_days') }} as s
    {{ where_rewritten_day('s', 'trade_date') }}
    group by s.wallet_key, s.trade_date

),

days as (

    select wallet_key, activity_date from realizations
    union
    select wallet_key, activity_date from trading

),

-- The cost held moves on fill days (the fills up to a position's settlement day) and
-- settlement days (a settled position leaves it at the end of its day), and is read on
-- every row's day.
cost_stream as (

    select
        wallet_key,
        move_date as activity_date,
        micro_usd,
        case when side = 'BUY' then micro_usd else cast(0 as bigint) end as bought_micro_usd
    from cost_moves
    where settled_date is null or move_date <= settled_date
    union all
    select
        wallet_key,
        settled_date as activity_date,
        -(held_before_micro_usd + counted_micro_usd) as micro_usd,
        cast(0 as bigint) as bought_micro_usd
    from position_costs
    where settled_date is not null
    union all
    select wallet_key, activity_date, cast(0 as bigint) as micro_usd, cast(0 as bigint) as bought_micro_usd
    from days

),

cost_days as (

    select wallet_key, activity_date, sum(micro_usd) as micro_usd, sum(bought_micro_usd) as bought_micro_usd
    from cost_stream
    group by wallet_key, activity_date

),

-- The capital at risk of a day: the cost held at its start (before the wallet's first
-- rewritten day, plus every move of the days before it) and what it bought that day.
-- Never below zero: a held cost is, and only a rounding of a moved cost could say otherwise.
capital as (

    select
        wallet_key,
        activity_date,
        cast(held_micro_usd as {{ double_type() }}) / {{ micro }} as capital_held_usd,
        cast(held_micro_usd + bought_micro_usd as {{ double_type() }}) / {{ micro }} as capital_at_risk_usd
    from (
        select
            c.wallet_key,
            c.activity_date,
            c.bought_micro_usd,
            greatest(
                coalesce(h.micro_usd, 0)
                + sum(c.micro_usd) over (
                    partition by c.wallet_key order by c.activity_date
                    rows between unbounded preceding and current row
                )
                - c.micro_usd,
                0
            ) as held_micro_usd
        from cost_days as c
        left join held_before as h
            on h.wallet_key = c.wallet_key
    ) as held

),

{{ ids_cte('wallet') }}

joined as (

    select
        ids_wallet.wallet_address,
        d.wallet_key,
        d.activity_date,
        coalesce(r.realized_pnl_usd, 0) as realized_pnl_usd,
        coalesce(r.capital_realized_usd, 0) as capital_realized_usd,
        k.capital_held_usd,
        k.capital_at_risk_usd,
        greatest(k.capital_at_risk_usd, coalesce(r.capital_realized_usd, 0)) as return_base_usd,
        coalesce(r.realizations, 0) as realizations,
        coalesce(t.trades, 0) as trades,
        coalesce(t.volume_usd, 0) as volume_usd,
        coalesce(t.bought_usd, 0) as bought_usd
    from days as d
    {{ join_ids('d', ['wallet']) }}
    inner join capital as k
        on k.wallet_key = d.wallet_key and k.activity_date = d.activity_date
    left join realizations as r
        on r.wallet_key = d.wallet_key and r.activity_date = d.activity_date
    left join trading as t
        on t.wallet_key = d.wallet_key and t.activity_date = d.activity_date

),

computed as (

    select
        wallet_address,
        wallet_key,
        activity_date,
        realized_pnl_usd,
        capital_realized_usd,
        capital_held_usd,
        capital_at_risk_usd,
        return_base_usd,
        case when return_base_usd > 0 then realized_pnl_usd / return_base_usd else 0 end as daily_return,
        realizations,
        trades,
        volume_usd,
        bought_usd
    from joined

)

{% if window -%}
, earlier as (

    select p.*
    from {{ this }} as p
    {{ where_rewritten_day('p', 'activity_date') }}

)

-- The days that are new or changed.
select c.*
from computed as c
left join earlier as e
    on e.wallet_key = c.wallet_key
    and e.activity_date = c.activity_date
where e.wallet_key is null
    {%- for column in value_columns %}
    or c.{{ column }} is distinct from e.{{ column }}
    {%- endfor %}
union all
-- The days that no longer have a row: written empty (no realizations, no trades, which no
-- day has), and deleted by the post-hook.
select
    e.wallet_address,
    e.wallet_key,
    e.activity_date,
    cast(0 as {{ double_type() }}) as realized_pnl_usd,
    cast(0 as {{ double_type() }}) as capital_realized_usd,
    cast(0 as {{ double_type() }}) as capital_held_usd,
    cast(0 as {{ double_type() }}) as capital_at_risk_usd,
    cast(0 as {{ double_type() }}) as return_base_usd,
    cast(0 as {{ double_type() }}) as daily_return,
    cast(0 as bigint) as realizations,
    cast(0 as bigint) as trades,
    cast(0 as {{ double_type() }}) as volume_usd,
    cast(0 as {{ double_type() }}) as bought_usd
from earlier as e
where not exists (
    select 1 from computed as c
    where c.wallet_key = e.wallet_key and c.activity_date = e.activity_date
)
{%- else -%}
select * from computed
{%- endif %}
