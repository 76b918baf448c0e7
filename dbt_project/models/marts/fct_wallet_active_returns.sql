{#-
    Each day a wallet realized P&L, its return against the category baseline, up to the
    as-of day (`as_of_date` var, default the last day with activity).

    The baseline is what the same capital would have earned at the average return of
    everyone else's realizations that day in the same categories: for each category
    the wallet realized in, its realized capital × the category's return that day
    (Σ P&L / Σ capital over the other wallets — leaving the wallet out, so a whale is
    not benchmarked against itself). benchmark_return = that P&L / the day's return
    base (capital at risk, as for daily_return); active_return = daily_return −
    benchmark_return. It feeds the information ratio, and scoring bootstraps it.
-#}

with

as_of as (

    {{ as_of_date_select() }}

),

wallet_category_day as (

    select
        z.wallet_key,
        z.category,
        z.realized_date,
        sum(z.realized_pnl_usd) as pnl_usd,
        sum(z.capital_usd) as capital_usd
    from {{ ref('int_wallet_realizations') }} as z
    cross join as_of as a
    where z.realized_date <= a.as_of_date
    group by z.wallet_key, z.category, z.realized_date

),

category_day as (

    select category, realized_date, sum(pnl_usd) as pnl_usd, sum(capital_usd) as capital_usd
    from wallet_category_day
    group by category, realized_date

),

benchmark as (

    select
        w.wallet_key,
        w.realized_date as activity_date,
        sum(case
                when c.capital_usd - w.capital_usd > 0
                    then w.capital_usd * (c.pnl_usd - w.pnl_usd) / (c.capital_usd - w.capital_usd)
                else 0
            end) as benchmark_pnl_usd
    from wallet_category_day as w
    inner join category_day as c
        on c.category = w.category
        and c.realized_date = w.realized_date
    group by w.wallet_key, w.realized_date

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
left join benchmark as b
    on b.wallet_key = d.wallet_key
    and b.activity_date = d.activity_date
where d.realizations > 0
  and d.return_base_usd > 0
  and d.activity_date <= a.as_of_date
