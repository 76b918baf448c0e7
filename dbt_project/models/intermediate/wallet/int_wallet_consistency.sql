{#-
    Per wallet, consistency: the std of the 30-day Sharpe over consecutive 30-day blocks
    counted back from the as-of day (blocks with realizations and non-zero variance), in
    daily units (mean / std of the block's daily returns, not annualized): annualized, a
    30-day Sharpe has a sampling std of about √(365/30) ≈ 3.5 even for a perfectly
    steady trader, and the documented 0.75 scale would score every wallet 0.
-#}

with

returns as (

    select * from {{ ref('int_daily_returns_as_of') }}

),

block_sums as (

    select
        wallet_key,
        floor(cast(days_ago as {{ double_type() }}) / 30) as block,
        sum(daily_return) as sum_r,
        sum(daily_return * daily_return) as sum_r2
    from returns
    group by wallet_key, floor(cast(days_ago as {{ double_type() }}) / 30)

),

block_sharpe as (

    select
        wallet_key,
        (sum_r / 30) / sqrt((sum_r2 - sum_r * sum_r / 30) / 29) as block_sharpe
    from block_sums
    where (sum_r2 - sum_r * sum_r / 30) / 29 > 1e-18

),

{{ ids_cte('wallet') }}

per_wallet as (

    select wallet_key, stddev_samp(block_sharpe) as rolling_sharpe_30d_std, count(*) as sharpe_blocks
    from block_sharpe
    group by wallet_key

)

select ids_wallet.wallet_address, s.rolling_sharpe_30d_std, s.sharpe_blocks
from per_wallet as s
{{ join_ids('s', ['wallet']) }}
