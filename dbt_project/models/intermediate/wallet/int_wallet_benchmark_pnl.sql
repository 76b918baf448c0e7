{#-
    Per wallet and day it realized P&L: what the same capital would have earned that day
    at everyone else's return in the same categories (the benchmark of
    fct_wallet_active_returns).

    For each category the wallet realized in that day: its realized capital × the
    category's return that day over the other wallets (Σ P&L / Σ capital, leaving the
    wallet out, so that a whale is not benchmarked against itself), summed over its
    categories (USD). A day's benchmark depends only on that day's realizations, so it is
    kept by day.
    Incremental: a partition window rebuilds its days and every later one (the SELLs it
    rewrote), and the earlier days whose realizations changed (realization_days_to_rebuild:
    the touched positions' settlements, and any day whose realizations no longer add up to
    its rows here).
-#}

-- depends_on: {{ ref('int_touched_positions') }}
{{ config(**window_incremental(['wallet_key', 'activity_date'], replace_days_of='activity_date', through_last_day=true,
                               also_days='realization_days_to_rebuild(this)')) }}

with

{% if in_partition_window() -%}
-- (After the pre-hook's delete the days it deleted no longer add up, so they are among these.)
earlier_days as (

    {{ realization_days_to_rebuild(this) }}

),
{%- endif %}

wallet_category_day as (

    select
        z.wallet_key,
        z.category,
        z.realized_date,
        sum(z.realized_pnl_usd) as pnl_usd,
        sum(z.capital_usd) as capital_usd,
        count(*) as realizations
    from {{ ref('int_wallet_realizations') }} as z
    {%- if in_partition_window() %}
    where z.realized_date >= cast('{{ partition_start() }}' as date)
       or z.realized_date in (select realized_date from earlier_days)
    {%- endif %}
    group by z.wallet_key, z.category, z.realized_date

),

category_day as (

    select category, realized_date, sum(pnl_usd) as pnl_usd, sum(capital_usd) as capital_usd
    from wallet_category_day
    group by category, realized_date

)

select
    w.wallet_key,
    w.realized_date as activity_date,
    sum(case
            when c.capital_usd - w.capital_usd > 0
                then w.capital_usd * (c.pnl_usd - w.pnl_usd) / (c.capital_usd - w.capital_usd)
            else 0
        end) as benchmark_pnl_usd,
    sum(w.pnl_usd) as realized_pnl_usd,
    sum(w.capital_usd) as capital_usd,
    cast(sum(w.realizations) as bigint) as realizations
from wallet_category_day as w
inner join category_day as c
    on c.category = w.category
    and c.realized_date = w.realized_date
group by w.wallet_key, w.realized_date
