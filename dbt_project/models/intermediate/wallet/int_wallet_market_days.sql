{#-
    One row per wallet, market and day of fills: the partial sums the per-wallet models
    add up (int_wallet_trade_stats, int_wallet_category_mix, int_wallet_market_making,
    int_wallet_wash_stats), so that a new day adds its own rows and the per-wallet models
    read wallet-market-days instead of every fill. Days are the fills' partition days (UTC).
    - fills, volume (bought, sold), first and last fill, the largest bet (what one
      transaction bought of one token);
    - exposure to the market's first outcome (see int_wallet_market_making): shares added
      and removed, the day's net change, the exposure before the day (the net change of
      every earlier day) and the highest and lowest running exposure after a fill of the
      day, counted from the day's start;
    - self-crossing fills (a BUY and a SELL of one token in one transaction) and rapid
      round trips (a BUY then, in another transaction, a SELL of the same shares within
      60 s), counted on the SELL's day.
    Incremental: a partition window rebuilds its days and the days after it (whose
    exposure before the day includes the window's); round trips look 60 s back.
-#}

{#- Built after int_id_keys, whose test stops the models that group by keys if two ids share one. -#}
-- depends_on: {{ ref('int_id_keys') }}
{# A whole build of a large history runs in slices of wallets (fill_slices.sql). #}
{{ config(**window_incremental(['wallet_key', 'market_key', 'trade_date'], replace_days_of='trade_date',
                               through_last_day=true, sliced_by_wallet=true)) }}
{% set slices = fill_slices() %}

{%- set round_trip_seconds = 60 -%}
{#- Keys, not ids: the wallet's and market's ids are joined to the result, and a transaction
    is its hash's integer key (within one wallet and token). Carried through the sorts and
    groupings of every fill, each id costs about as much as the sums. -#}
{%- set columns = 'wallet_key, market_key, token_key, ' ~ hex_id_key('transaction_hash') ~ ' as transaction_key, '
                  ~ 'trade_key, side, shares, notional_usd, outcome_index, traded_at_unix, trade_date' -%}

with

{% if in_partition_window() -%}
{%- set day_before = days_before_window(1) -%}
window_fills as (

    select {{ columns }}
    from {{ ref('stg_polymarket__trades') }}
    where trade_date >= cast('{{ partition_start() }}' as date)
      and {{ in_fill_slice('wallet_address', slices) }}

),

-- The fills just before the window, for the round trips its first SELLs close.
lookback_fills as (

    select {{ columns }}
    from {{ ref('stg_polymarket__trades') }}
    where trade_date >= cast('{{ day_before }}' as date)
      and trade_date < cast('{{ partition_start() }}' as date)
      and {{ in_fill_slice('wallet_address', slices) }}
      and traded_at_unix >= (select min(traded_at_unix) from window_fills) - {{ round_trip_seconds }}

),

fills as {{ not_materialized() }} (

    select *, true as in_window from window_fills
    union all
    select *, false as in_window from lookback_fills

),

-- Each market's exposure at the start of the window, from the days before it.
exposure_before_window as (

    select t.wallet_key, t.market_key, sum(t.exposure_change_micro_shares) as exposure_micro
    from {{ this }} as t
    where t.trade_date < cast('{{ partition_start() }}' as date)
      and exists (
          select 1 from window_fills as w
          where w.wallet_key = t.wallet_key and w.market_key = t.market_key
      )
    group by t.wallet_key, t.market_key

),
{%- else -%}
fills as {{ not_materialized() }} (

    select {{ columns }}
    from {{ ref('stg_polymarket__trades') }}
    where {{ in_fill_slice('wallet_address', slices) }}

),
{%- endif %}

{{ ids_cte('wallet') }}

{{ ids_cte('market') }}

tokens as (

    select token_key, outcome_index from {{ ref('stg_polymarket__market_tokens') }}

),

-- The window's fills (on a full build every fill; no filter that a planner would guess
-- the selectivity of). Exposure is counted in micro-shares (integers: outcome tokens have
-- 6 decimals on chain), so its running sums are exact in any order, and a window run
-- adds up to the same exposure as a full build.
day_fills as {{ not_materialized() }} (

    select
        f.*,
        case when (f.side = 'BUY') = (coalesce(k.outcome_index, f.outcome_index, 0) = 0) then 1 else -1 end
            * cast(round(f.shares * 1000000) as bigint) as exposure_change
    from fills as f
    left join tokens as k
        on k.token_key = f.token_key
    {% if in_partition_window() %}where in_window{% endif %}

),

running as (

    select
        *,
        sum(exposure_change) over (
            partition by wallet_key, market_key, trade_date order by traded_at_unix, trade_key
            rows between unbounded preceding and current row
        ) as exposure_in_day
    from day_fills

),

fill_days as (

    select
        wallet_key,
        market_key,
        trade_date,
        count(*) as fills,
        min(traded_at_unix) as first_trade_at_unix,
        max(traded_at_unix) as last_trade_at_unix,
        sum(notional_usd) as volume_usd,
        sum(case when side = 'BUY' then notional_usd else 0 end) as buy_volume_usd,
        sum(case when side = 'SELL' then notional_usd else 0 end) as sell_volume_usd,
        sum(case when exposure_change > 0 then exposure_change else 0 end) as added_micro,
        sum(case when exposure_change < 0 then -exposure_change else 0 end) as removed_micro,
        sum(case when exposure_change > 0 then 1 else 0 end) as adding_fills,
        sum(case when exposure_change < 0 then 1 else 0 end) as removing_fills,
        sum(exposure_change) as exposure_change_micro_shares,
        max(exposure_in_day) as max_exposure_in_day_micro,
        min(exposure_in_day) as min_exposure_in_day_micro
    from running
    group by wallet_key, market_key, trade_date

),

with_exposure_before as (

    select
        d.*,
        {% if in_partition_window() %}coalesce(w.exposure_micro, 0) + {% endif %}coalesce(sum(d.exposure_change_micro_shares) over (
            partition by d.wallet_key, d.market_key order by d.trade_date
            rows between unbounded preceding and 1 preceding
        ), 0) as exposure_before_day_micro
    from fill_days as d
    {%- if in_partition_window() %}
    left join exposure_before_window as w
        on w.wallet_key = d.wallet_key and w.market_key = d.market_key
    {%- endif %}

),

-- One row per wallet, transaction and token: a bet when it bought, a self-crossing when
-- it both bought and sold.
transactions as (

    select
        wallet_key,
        market_key,
        trade_date,
        count(*) as fills,
        sum(notional_usd) as volume_usd,
        sum(case when side = 'BUY' then notional_usd end) as bought_usd,
        -- 2 when it both bought and sold (two flags: a DISTINCT aggregate over every
        -- transaction is a second aggregation of tens of millions of groups).
        max(case when side = 'BUY' then 1 else 0 end) + max(case when side = 'SELL' then 1 else 0 end) as sides
    from day_fills
    -- A transaction by its hash's integer key (within one wallet, market, day and token).
    group by wallet_key, market_key, trade_date, transaction_key, token_key

),

transaction_days as (

    select
        wallet_key,
        market_key,
        trade_date,
        max(bought_usd) as largest_bet_usd,
        sum(case when sides = 2 then fills else 0 end) as self_crossing_fills,
        sum(case when sides = 2 then volume_usd else 0 end) as self_crossing_usd
    from transactions
    group by wallet_key, market_key, trade_date

),

ordered_fills as (

    select
        wallet_key,
        market_key,
        transaction_key,
        side,
        shares,
        traded_at_unix,
        lag(side) over w as previous_side,
        lag(shares) over w as previous_shares,
        lag(traded_at_unix) over w as previous_at_unix,
        lag(transaction_key) over w as previous_transaction_key,
        trade_date{% if in_partition_window() %},
        in_window{% endif %}
    from fills
    window w as (partition by wallet_key, token_key order by traded_at_unix, side, trade_key)

),

round_trip_days as (

    select wallet_key, market_key, trade_date, count(*) as rapid_round_trips
    from ordered_fills
    where side = 'SELL' and previous_side = 'BUY'
      and abs(previous_shares - shares) < 1e-9
      and traded_at_unix - previous_at_unix <= {{ round_trip_seconds }}
      and previous_transaction_key <> transaction_key
      {%- if in_partition_window() %}
      and in_window
      {%- endif %}
    group by wallet_key, market_key, trade_date

)

select
    ids_wallet.wallet_address,
    ids_market.condition_id,
    d.wallet_key,
    d.market_key,
    d.trade_date,
    d.fills,
    d.first_trade_at_unix,
    d.last_trade_at_unix,
    d.volume_usd,
    d.buy_volume_usd,
    d.sell_volume_usd,
    x.largest_bet_usd,
    cast(d.added_micro as {{ double_type() }}) / 1000000 as added_shares,
    cast(d.removed_micro as {{ double_type() }}) / 1000000 as removed_shares,
    d.adding_fills,
    d.removing_fills,
    cast(d.exposure_change_micro_shares as {{ double_type() }}) / 1000000 as exposure_change_shares,
    d.exposure_change_micro_shares,
    cast(d.exposure_before_day_micro as {{ double_type() }}) / 1000000 as exposure_before_day_shares,
    cast(d.max_exposure_in_day_micro as {{ double_type() }}) / 1000000 as max_exposure_in_day_shares,
    cast(d.min_exposure_in_day_micro as {{ double_type() }}) / 1000000 as min_exposure_in_day_shares,
    x.self_crossing_fills,
    x.self_crossing_usd,
    coalesce(r.rapid_round_trips, 0) as rapid_round_trips
from with_exposure_before as d
left join transaction_days as x
    on x.wallet_key = d.wallet_key and x.market_key = d.market_key and x.trade_date = d.trade_date
left join round_trip_days as r
    on r.wallet_key = d.wallet_key and r.market_key = d.market_key and r.trade_date = d.trade_date
{{ join_ids('d', ['wallet', 'market']) }}
