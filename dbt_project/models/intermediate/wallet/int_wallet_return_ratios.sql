{#-
    Per wallet, the ratios of its daily return series (fct_wallet_daily_pnl.daily_return on
    a calendar from its first activity to the as-of day; days without realizations return 0):
    - Sharpe over N days = mean / sample std × √365 on the last min(N, days active) days;
      Sortino (90 d) = mean / sqrt(mean of squared negative returns) × √365.
    - Equity compounds daily returns; max drawdown = largest fall from a running peak,
      current drawdown = fall from the peak at the as-of day (fractions). Calmar =
      annualized mean daily return (90 d, × 365) / max drawdown (compounding a short
      history to a year explodes, so the arithmetic annualization is used).
    - Information ratio (90 d): mean / sample std × √365 of the wallet's active returns
      (fct_wallet_active_returns) over the last 90 days.
-#}

with

as_of as (

    {{ as_of_date_select() }}

),

returns as (

    select * from {{ ref('int_daily_returns_as_of') }}

),

activity_span as (

    select
        r.wallet_key,
        {{ dbt.datediff('min(r.activity_date)', 'max(a.as_of_date)', 'day') }} + 1 as days_active
    from returns as r
    cross join as_of as a
    group by r.wallet_key

),

return_sums as (

    select
        r.wallet_key,
        s.days_ago_limit,
        least(s.days_ago_limit, max(sp.days_active)) as n_days,
        sum(case when r.days_ago < s.days_ago_limit then r.daily_return else 0 end) as sum_r,
        sum(case when r.days_ago < s.days_ago_limit then r.daily_return * r.daily_return else 0 end) as sum_r2,
        sum(case when r.days_ago < s.days_ago_limit and r.daily_return < 0
                 then r.daily_return * r.daily_return else 0 end) as sum_neg_r2
    from returns as r
    inner join activity_span as sp
        on sp.wallet_key = r.wallet_key
    cross join (select 30 as days_ago_limit union all select 90 as days_ago_limit) as s
    group by r.wallet_key, s.days_ago_limit

),

return_stats as (

    select
        wallet_key,
        days_ago_limit,
        n_days,
        sum_r / n_days as mean_r,
        case when n_days > 1 then (sum_r2 - sum_r * sum_r / n_days) / (n_days - 1) end as var_r,
        sum_neg_r2 / n_days as downside_var_r
    from return_sums

),

{{ ids_cte('wallet') }}

sharpe as (

    select
        wallet_key,
        max(case when days_ago_limit = 30 and var_r > 1e-18 then mean_r / sqrt(var_r) * sqrt(365.0) end)
            as sharpe_30d,
        max(case when days_ago_limit = 90 and var_r > 1e-18 then mean_r / sqrt(var_r) * sqrt(365.0) end)
            as sharpe_90d,
        max(case when days_ago_limit = 90 and downside_var_r > 1e-18
                 then mean_r / sqrt(downside_var_r) * sqrt(365.0) end) as sortino_90d,
        max(case when days_ago_limit = 90 then n_days end) as return_days_90d,
        max(case when days_ago_limit = 90 then mean_r end) as mean_return_90d
    from return_stats
    group by wallet_key

),

equity as (

    select
        wallet_key,
        activity_date,
        sum(ln(greatest(1 + daily_return, 1e-12))) over (
            partition by wallet_key order by activity_date rows between unbounded preceding and current row
        ) as log_equity
    from returns

),

equity_peaks as (

    select
        wallet_key,
        activity_date,
        log_equity,
        greatest(0, max(log_equity) over (
            partition by wallet_key order by activity_date rows between unbounded preceding and current row
        )) as log_peak,
        row_number() over (partition by wallet_key order by activity_date desc) as recency
    from equity

),

drawdowns as (

    select
        wallet_key,
        max(1 - exp(log_equity - log_peak)) as max_drawdown,
        max(case when recency = 1 then 1 - exp(log_equity - log_peak) end) as current_drawdown
    from equity_peaks
    group by wallet_key

),

active_returns as (

    select x.wallet_key, x.active_return
    from {{ ref('fct_wallet_active_returns') }} as x
    cross join as_of as a
    where {{ dbt.datediff('x.activity_date', 'a.as_of_date', 'day') }} between 0 and 89

),

information as (

    select
        wallet_key,
        avg(active_return) as mean_active,
        var_samp(active_return) as var_active
    from active_returns
    group by wallet_key
    having count(*) > 1

)

select
    ids_wallet.wallet_address,
    s.sharpe_30d,
    s.sharpe_90d,
    s.sortino_90d,
    s.return_days_90d,
    s.mean_return_90d,
    d.max_drawdown,
    d.current_drawdown,
    case when d.max_drawdown > 1e-12 then s.mean_return_90d * 365.0 / d.max_drawdown end as calmar_ratio,
    case when i.var_active > 1e-18 then i.mean_active / sqrt(i.var_active) * sqrt(365.0) end as information_ratio
from sharpe as s
{{ join_ids('s', ['wallet']) }}
left join drawdowns as d on d.wallet_key = s.wallet_key
left join information as i on i.wallet_key = s.wallet_key
