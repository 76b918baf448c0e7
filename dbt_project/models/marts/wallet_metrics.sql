{#-
    Everything scoring needs, one row per wallet, as of the last day in the data (or the
    `as_of_date` var). Definitions (units in the column docs):
    - Positions (wallet × token) are closed when resolved or fully sold; a closed
      position is won / lost by its realized P&L (average cost, settlement at payout).
    - Time decay: weight = 2^(−days ago / decay_half_life_days), by trade day for volume
      and by closing day (resolution, else last fill) for win rates.
    - Daily returns: fct_wallet_daily_pnl.daily_return on a calendar of days from the
      wallet's first activity to the as-of day; days without realizations return 0.
      Sharpe over N days = mean / sample std × √365, on the last min(N, days active) days.
      Sortino (90 d) = mean / sqrt(mean of squared negative returns) × √365.
    - Equity compounds daily returns; max drawdown = largest fall from a running peak,
      current drawdown = fall from the peak at the as-of day (fractions). Calmar =
      annualized mean daily return (90 d, × 365) / max drawdown (compounding a short
      history to a year explodes, so the arithmetic annualization is used).
    - Information ratio (90 d): mean / sample std × √365 of the wallet's active returns
      (fct_wallet_active_returns) over the last 90 days.
    - Consistency: std of the 30-day Sharpe over consecutive 30-day blocks counted back
      from the as-of day (blocks with realizations and non-zero variance), in daily
      units (mean / std of the block's daily returns, not annualized): annualized, a
      30-day Sharpe has a sampling std of about √(365/30) ≈ 3.5 even for a perfectly
      steady trader, and the documented 0.75 scale would score every wallet 0.
    - Wash trading: self-crossing fills (BUY and SELL of one token in one transaction)
      and rapid round trips (a BUY followed, in another transaction, by a SELL of the
      same shares within 60 s); wash_trade_share counts each such fill once.
    - Market making: trade count, average hold, share of positions traded on both sides.
-#}

{%- set half_life = var('decay_half_life_days') -%}
{%- set ln2 = 0.6931471805599453 -%}

with

daily_pnl as (

    select * from {{ ref('fct_wallet_daily_pnl') }}

),

as_of as (

    {{ as_of_date_select() }}

),

markets as (

    select condition_id, category from {{ ref('int_market_categories') }}

),

trades as (

    select
        t.*,
        coalesce(m.category, 'unknown') as category,
        {{ dbt.datediff('t.trade_date', 'a.as_of_date', 'day') }} as days_ago
    from {{ ref('stg_polymarket__trades') }} as t
    cross join as_of as a
    left join markets as m
        on m.condition_id = t.condition_id
    where t.trade_date <= a.as_of_date

),

positions as (

    select
        p.*,
        cast({{ unix_to_timestamp('case when p.is_resolved then p.resolved_at_unix else p.last_fill_at_unix end') }}
             as date) as closed_date
    from {{ ref('int_positions') }} as p

),

positions_aged as (

    select
        p.*,
        {{ dbt.datediff('p.closed_date', 'a.as_of_date', 'day') }} as closed_days_ago
    from positions as p
    cross join as_of as a

),

-- Trade-level activity, volume and categories -----------------------------------
trade_stats as (

    select
        wallet_address,
        count(*) as trade_count,
        min(traded_at_unix) as first_trade_at_unix,
        max(traded_at_unix) as last_trade_at_unix,
        sum(notional_usd) as volume_usd,
        sum(notional_usd * exp(-{{ ln2 }} * cast(days_ago as double precision) / {{ half_life }}))
            as decayed_volume_usd,
        sum(case when side = 'BUY' then notional_usd else 0 end) as buy_volume_usd,
        sum(case when side = 'SELL' then notional_usd else 0 end) as sell_volume_usd
    from trades
    group by wallet_address

),

category_volume as (

    select
        wallet_address,
        category,
        sum(notional_usd) as volume_usd,
        row_number() over (partition by wallet_address order by sum(notional_usd) desc, category) as volume_rank
    from trades
    group by wallet_address, category

),

category_stats as (

    select
        c.wallet_address,
        max(case when c.volume_rank = 1 then c.category end) as primary_category,
        count(*) as category_count,
        sum(power(c.volume_usd / t.volume_usd, 2)) * 10000 as category_hhi,
        sum(case when c.volume_rank <= 2 then c.volume_usd else 0 end) / t.volume_usd as top_two_category_share
    from category_volume as c
    inner join trade_stats as t
        on t.wallet_address = c.wallet_address
    group by c.wallet_address, t.volume_usd

),

-- A bet is what one transaction bought of one token (a sweep across levels is one bet).
bets as (

    select wallet_address, max(bet_usd) as largest_bet_usd
    from (
        select wallet_address, transaction_hash, token_id, sum(notional_usd) as bet_usd
        from trades
        where side = 'BUY'
        group by wallet_address, transaction_hash, token_id
    ) as b
    group by wallet_address

),

-- Positions: outcomes, profit factor, holds, sizes -------------------------------
position_stats as (

    select
        wallet_address,
        count(*) as positions,
        sum(case when is_closed then 1 else 0 end) as closed_positions,
        sum(case when outcome = 'won' then 1 else 0 end) as won_positions,
        sum(case when outcome = 'lost' then 1 else 0 end) as lost_positions,
        sum(case when outcome = 'won'
                 then exp(-{{ ln2 }} * cast(closed_days_ago as double precision) / {{ half_life }}) else 0 end)
            as decayed_won,
        sum(case when outcome = 'lost'
                 then exp(-{{ ln2 }} * cast(closed_days_ago as double precision) / {{ half_life }}) else 0 end)
            as decayed_lost,
        sum(case when is_closed and realized_pnl_usd > 0 then realized_pnl_usd else 0 end) as gross_profit_usd,
        sum(case when is_closed and realized_pnl_usd < 0 then -realized_pnl_usd else 0 end) as gross_loss_usd,
        sum(realized_pnl_usd) as realized_pnl_usd,
        avg(case when is_closed then cast(hold_seconds as double precision) end) as avg_hold_seconds,
        avg(case when bought_usd > 0 then bought_usd end) as mean_position_usd,
        stddev_samp(case when bought_usd > 0 then bought_usd end) as stddev_position_usd,
        sum(case when bought_shares > 0 and sold_shares > 0 then 1 else 0 end) as two_sided_positions
    from positions_aged
    group by wallet_address

),

capital as (

    select wallet_address, sum(capital_usd) as capital_realized_usd
    from {{ ref('int_wallet_realizations') }}
    group by wallet_address

),

market_pnl as (

    select wallet_address, condition_id, sum(realized_pnl_usd) as pnl_usd
    from positions
    group by wallet_address, condition_id

),

market_concentration as (

    select
        wallet_address,
        case
            when sum(case when pnl_usd > 0 then pnl_usd else 0 end) > 0
                then max(pnl_usd) / sum(case when pnl_usd > 0 then pnl_usd else 0 end)
        end as largest_market_profit_share
    from market_pnl
    group by wallet_address

),

-- Daily return series: Sharpe, Sortino ------------------------------------------
returns as (

    select
        d.wallet_address,
        d.activity_date,
        d.daily_return,
        {{ dbt.datediff('d.activity_date', 'a.as_of_date', 'day') }} as days_ago
    from daily_pnl as d
    cross join as_of as a
    where d.activity_date <= a.as_of_date

),

activity_span as (

    select
        r.wallet_address,
        {{ dbt.datediff('min(r.activity_date)', 'max(a.as_of_date)', 'day') }} + 1 as days_active
    from returns as r
    cross join as_of as a
    group by r.wallet_address

),

return_sums as (

    select
        r.wallet_address,
        s.days_ago_limit,
        least(s.days_ago_limit, max(sp.days_active)) as n_days,
        sum(case when r.days_ago < s.days_ago_limit then r.daily_return else 0 end) as sum_r,
        sum(case when r.days_ago < s.days_ago_limit then r.daily_return * r.daily_return else 0 end) as sum_r2,
        sum(case when r.days_ago < s.days_ago_limit and r.daily_return < 0
                 then r.daily_return * r.daily_return else 0 end) as sum_neg_r2
    from returns as r
    inner join activity_span as sp
        on sp.wallet_address = r.wallet_address
    cross join (select 30 as days_ago_limit union all select 90 as days_ago_limit) as s
    group by r.wallet_address, s.days_ago_limit

),

return_stats as (

    select
        wallet_address,
        days_ago_limit,
        n_days,
        sum_r / n_days as mean_r,
        case when n_days > 1 then (sum_r2 - sum_r * sum_r / n_days) / (n_days - 1) end as var_r,
        sum_neg_r2 / n_days as downside_var_r
    from return_sums

),

sharpe as (

    select
        wallet_address,
        max(case when days_ago_limit = 30 and var_r > 1e-18 then mean_r / sqrt(var_r) * sqrt(365.0) end)
            as sharpe_30d,
        max(case when days_ago_limit = 90 and var_r > 1e-18 then mean_r / sqrt(var_r) * sqrt(365.0) end)
            as sharpe_90d,
        max(case when days_ago_limit = 90 and downside_var_r > 1e-18
                 then mean_r / sqrt(downside_var_r) * sqrt(365.0) end) as sortino_90d,
        max(case when days_ago_limit = 90 then n_days end) as return_days_90d,
        max(case when days_ago_limit = 90 then mean_r end) as mean_return_90d
    from return_stats
    group by wallet_address

),

-- Equity curve: drawdowns and Calmar -----------------------------------------------
equity as (

    select
        wallet_address,
        activity_date,
        sum(ln(greatest(1 + daily_return, 1e-12))) over (
            partition by wallet_address order by activity_date rows between unbounded preceding and current row
        ) as log_equity
    from returns

),

equity_peaks as (

    select
        wallet_address,
        activity_date,
        log_equity,
        greatest(0, max(log_equity) over (
            partition by wallet_address order by activity_date rows between unbounded preceding and current row
        )) as log_peak,
        row_number() over (partition by wallet_address order by activity_date desc) as recency
    from equity

),

drawdowns as (

    select
        e.wallet_address,
        max(1 - exp(e.log_equity - e.log_peak)) as max_drawdown,
        max(case when e.recency = 1 then 1 - exp(e.log_equity - e.log_peak) end) as current_drawdown,
        max(case when e.recency = 1 then e.log_equity end) as log_equity_final
    from equity_peaks as e
    group by e.wallet_address

),

-- Information ratio against the category benchmark --------------------------------
active_returns as (

    select x.wallet_address, x.active_return
    from {{ ref('fct_wallet_active_returns') }} as x
    cross join as_of as a
    where {{ dbt.datediff('x.activity_date', 'a.as_of_date', 'day') }} between 0 and 89

),

information as (

    select
        wallet_address,
        avg(active_return) as mean_active,
        var_samp(active_return) as var_active
    from active_returns
    group by wallet_address
    having count(*) > 1

),

-- Consistency: 30-day Sharpe per 30-day block --------------------------------------
block_sums as (

    select
        wallet_address,
        floor(cast(days_ago as double precision) / 30) as block,
        sum(daily_return) as sum_r,
        sum(daily_return * daily_return) as sum_r2
    from returns
    group by wallet_address, floor(cast(days_ago as double precision) / 30)

),

block_sharpe as (

    select
        wallet_address,
        (sum_r / 30) / sqrt((sum_r2 - sum_r * sum_r / 30) / 29) as block_sharpe
    from block_sums
    where (sum_r2 - sum_r * sum_r / 30) / 29 > 1e-18

),

consistency as (

    select wallet_address, stddev_samp(block_sharpe) as rolling_sharpe_30d_std, count(*) as sharpe_blocks
    from block_sharpe
    group by wallet_address

),

-- Wash trading and market making indicators ------------------------------------------
ordered_fills as (

    select
        wallet_address,
        token_id,
        transaction_hash,
        side,
        shares,
        traded_at_unix,
        lead(side) over w as next_side,
        lead(shares) over w as next_shares,
        lead(traded_at_unix) over w as next_at_unix,
        lead(transaction_hash) over w as next_transaction_hash
    from trades
    window w as (partition by wallet_address, token_id order by traded_at_unix, side, trade_key)

),

self_crossing as (

    select wallet_address, sum(fills) as self_crossing_fills
    from (
        select wallet_address, transaction_hash, token_id, count(*) as fills
        from trades
        group by wallet_address, transaction_hash, token_id
        having count(distinct side) = 2
    ) as t
    group by wallet_address

),

round_trips as (

    select wallet_address, count(*) as rapid_round_trips
    from ordered_fills
    where side = 'BUY' and next_side = 'SELL'
      and abs(next_shares - shares) < 1e-9
      and next_at_unix - traded_at_unix <= 60
      and next_transaction_hash <> transaction_hash
    group by wallet_address

),

final as (

    select
        t.wallet_address,
        t.trade_count,
        t.first_trade_at_unix,
        t.last_trade_at_unix,
        cast(a.as_of_date as date) as as_of_date,
        {{ dbt.datediff(unix_to_timestamp('t.first_trade_at_unix'), 'a.as_of_date', 'day') }} as wallet_age_days,
        p.positions,
        p.closed_positions,
        p.won_positions,
        p.lost_positions,
        case when p.won_positions + p.lost_positions > 0
             then cast(p.won_positions as double precision) / (p.won_positions + p.lost_positions) end
            as win_rate,
        case when p.decayed_won + p.decayed_lost > 0
             then p.decayed_won / (p.decayed_won + p.decayed_lost) end as decayed_win_rate,
        p.gross_profit_usd,
        p.gross_loss_usd,
        case when p.gross_loss_usd > 0 then p.gross_profit_usd / p.gross_loss_usd end as profit_factor,
        p.realized_pnl_usd,
        coalesce(c.capital_realized_usd, 0) as capital_realized_usd,
        case when c.capital_realized_usd > 0 then p.realized_pnl_usd / c.capital_realized_usd end as roi,
        t.volume_usd,
        t.decayed_volume_usd,
        t.buy_volume_usd,
        t.sell_volume_usd,
        s.sharpe_30d,
        s.sharpe_90d,
        s.sortino_90d,
        d.max_drawdown,
        d.current_drawdown,
        case when d.max_drawdown > 1e-12 then s.mean_return_90d * 365.0 / d.max_drawdown end as calmar_ratio,
        case when i.var_active > 1e-18 then i.mean_active / sqrt(i.var_active) * sqrt(365.0) end
            as information_ratio,
        k.rolling_sharpe_30d_std,
        coalesce(k.sharpe_blocks, 0) as sharpe_blocks,
        p.avg_hold_seconds,
        p.mean_position_usd,
        case when p.mean_position_usd > 0 then p.stddev_position_usd / p.mean_position_usd end
            as position_size_cv,
        g.primary_category,
        g.category_count,
        g.category_hhi,
        g.top_two_category_share,
        p.realized_pnl_usd / t.trade_count as profit_per_trade_usd,
        b.largest_bet_usd,
        case when t.volume_usd > 0 then p.realized_pnl_usd / t.volume_usd end as return_on_volume,
        m.largest_market_profit_share,
        coalesce(x.self_crossing_fills, 0) as self_crossing_fills,
        coalesce(r.rapid_round_trips, 0) as rapid_round_trips,
        cast(coalesce(x.self_crossing_fills, 0) + 2 * coalesce(r.rapid_round_trips, 0) as double precision)
            / t.trade_count as wash_trade_share,
        case when p.positions > 0 then cast(p.two_sided_positions as double precision) / p.positions end
            as two_sided_position_share
    from trade_stats as t
    cross join as_of as a
    left join position_stats as p on p.wallet_address = t.wallet_address
    left join capital as c on c.wallet_address = t.wallet_address
    left join sharpe as s on s.wallet_address = t.wallet_address
    left join drawdowns as d on d.wallet_address = t.wallet_address
    left join information as i on i.wallet_address = t.wallet_address
    left join consistency as k on k.wallet_address = t.wallet_address
    left join category_stats as g on g.wallet_address = t.wallet_address
    left join market_concentration as m on m.wallet_address = t.wallet_address
    left join bets as b on b.wallet_address = t.wallet_address
    left join self_crossing as x on x.wallet_address = t.wallet_address
    left join round_trips as r on r.wallet_address = t.wallet_address

)

select * from final
