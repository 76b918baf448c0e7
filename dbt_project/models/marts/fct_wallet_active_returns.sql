{#-
    Each day a wallet realized P&L, its return against the category baseline, up to the
    as-of day (`as_of_date` var, default the last day with activity).

    The baseline is what the same capital would have earned at the average return of
    everyone else's realizations that day in the same categories (int_wallet_benchmark_pnl,
    kept by day). benchmark_return = that P&L / the day's return base (capital at risk,
    as for daily_return); active_return = daily_return − benchmark_return. It feeds the
    information ratio, and scoring bootstraps it.
-#}

with

as_of as (

    {{ as_of_date_select() }}

)

select
    d.wallet_address,
    d.wallet_key,
    d.activity_date,
    d.daily_return,
    coalesce(b.benchmark_pnl_usd, 0) / d.return_base_usd as benchmark_return,
    d.daily_return - coalesce(b.benchmark_pnl_usd, 0) / d.return_base_usd as active_return
from {{ ref('fct_wallet_daily_pnl') }} as d
cross join as_of as a
left join {{ ref('int_wallet_benchmark_pnl') }} as b
    on b.wallet_key = d.wallet_key
    and b.activity_date = d.activity_date
where d.realizations > 0
  and d.return_base_usd > 0
  and d.activity_date <= a.as_of_date
