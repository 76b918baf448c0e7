{#-
    Realized P&L per wallet per day (UTC), and the day's return on capital.

    daily_return = realized P&L that day / the wallet's capital at risk that day: the
    USD bought into every position open at some point of that day (opened on or before
    it, closed — resolved, or fully sold — on or after it). A wallet's cash balance is
    not observable; the capital it has put into open positions is, so a loss is
    measured against everything the wallet had at stake, not only against the position
    that lost (which would make every losing day −100 %). Days without any realization
    have no row; metrics that need a calendar series (Sharpe, drawdown) fill them with
    a zero return.
    Volume and trade counts are by trade day (int_wallet_market_days).
    Incremental: a partition window recomputes every day of the wallets it touches, and
    writes the days that changed (a position's cost moves the capital at risk of every day
    it was open): most of them did not, and a rewritten row costs its delete, its insert
    and their checkpoint. A day that no longer has a row (its fills or its settlement gone
    from a re-ingested record) is written empty and deleted after the insert.
-#}

{#- touched_cte() refs it inside a conditional: declare it. -#}
-- depends_on: {{ ref('int_touched_positions') }}
{{ config(**window_incremental(['wallet_key', 'activity_date'], replace_touched='wallets', reads_own_rows=true)) }}
{{ config(post_hook="{% if in_partition_window() %}delete from {{ this }} where realizations = 0 and trades = 0{% endif %}") }}
{%- set value_columns = ['wallet_address', 'realized_pnl_usd', 'capital_realized_usd', 'capital_at_risk_usd',
                         'return_base_usd', 'daily_return', 'realizations', 'trades', 'volume_usd', 'bought_usd'] %}

with

{{ touched_cte() }}

realizations as (

    select
        wallet_key,
        realized_date as activity_date,
        sum(realized_pnl_usd) as realized_pnl_usd,
        sum(capital_usd) as capital_realized_usd,
        count(*) as realizations
    from {{ ref('int_wallet_realizations') }} as z
    {{ where_touched_wallet('z') }}
    group by wallet_key, realized_date

),

position_spans as (

    select
        wallet_key,
        bought_usd,
        cast({{ unix_to_timestamp('opened_at_unix') }} as date) as opened_date,
        case
            when is_resolved then cast({{ unix_to_timestamp('resolved_at_unix') }} as date)
            when is_closed then cast({{ unix_to_timestamp('last_fill_at_unix') }} as date)
        end as closed_date
    from {{ ref('int_positions') }} as p
    {{ where_touched_wallet('p') }}

),

-- Capital at risk by day, as a running sum per wallet (linear in positions and days,
-- where joining each day to every position is not): a position adds its cost on the
-- day it opened and takes it off the day after it closed; each realization day reads
-- the sum after that day's changes. Summed in micro-USD integers, so exactly.
capital_changes as (

    select wallet_key, opened_date as change_date, cast(round(bought_usd * 1000000) as bigint) as micro_usd
    from position_spans
    union all
    select wallet_key, {{ dbt.dateadd('day', 1, 'closed_date') }} as change_date,
           -cast(round(bought_usd * 1000000) as bigint) as micro_usd
    from position_spans
    where closed_date is not null

),

capital_stream as (

    select wallet_key, cast(change_date as date) as stream_date, 0 as reads, sum(micro_usd) as micro_usd
    from capital_changes
    group by wallet_key, cast(change_date as date)
    union all
    select wallet_key, activity_date as stream_date, 1 as reads, cast(0 as bigint) as micro_usd
    from realizations

),

capital_at_risk as (

    select wallet_key, activity_date, cast(micro_at_risk as {{ double_type() }}) / 1000000 as capital_at_risk_usd
    from (
        select
            wallet_key,
            stream_date as activity_date,
            reads,
            sum(micro_usd) over (
                partition by wallet_key order by stream_date, reads
                rows between unbounded preceding and current row
            ) as micro_at_risk
        from capital_stream
    ) as running
    where reads = 1

),

trading as (

    select
        wallet_key,
        trade_date as activity_date,
        cast(sum(fills) as bigint) as trades,
        sum(volume_usd) as volume_usd,
        sum(buy_volume_usd) as bought_usd
    from {{ ref('int_wallet_market_days') }} as s
    {{ where_touched_wallet('s') }}
    group by wallet_key, trade_date

),

days as (

    select wallet_key, activity_date from realizations
    union
    select wallet_key, activity_date from trading

),

{{ ids_cte('wallet') }}

joined as (

    select
        ids_wallet.wallet_address,
        d.wallet_key,
        d.activity_date,
        coalesce(r.realized_pnl_usd, 0) as realized_pnl_usd,
        coalesce(r.capital_realized_usd, 0) as capital_realized_usd,
        coalesce(k.capital_at_risk_usd, 0) as capital_at_risk_usd,
        greatest(coalesce(k.capital_at_risk_usd, 0), coalesce(r.capital_realized_usd, 0)) as return_base_usd,
        coalesce(r.realizations, 0) as realizations,
        coalesce(t.trades, 0) as trades,
        coalesce(t.volume_usd, 0) as volume_usd,
        coalesce(t.bought_usd, 0) as bought_usd
    from days as d
    {{ join_ids('d', ['wallet']) }}
    left join realizations as r
        on r.wallet_key = d.wallet_key and r.activity_date = d.activity_date
    left join capital_at_risk as k
        on k.wallet_key = d.wallet_key and k.activity_date = d.activity_date
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
        capital_at_risk_usd,
        return_base_usd,
        case when return_base_usd > 0 then realized_pnl_usd / return_base_usd else 0 end as daily_return,
        realizations,
        trades,
        volume_usd,
        bought_usd
    from joined

)

{% if in_partition_window() -%}
, earlier as (

    select p.*
    from {{ this }} as p
    {{ where_touched_wallet('p') }}

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
