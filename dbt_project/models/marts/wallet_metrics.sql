{#-
    Everything scoring needs, one row per wallet that traded, as of the last day in the
    data (or the `as_of_date` var). Each group of measures is its own intermediate model
    (models/intermediate/wallet/), where its definitions are:
    - int_wallet_trade_stats: fills, volume (also time-decayed), largest bet;
    - int_wallet_position_stats: outcomes, win rates, profit factor, holds, sizes, capital,
      pricing edge against the no-skill null;
    - int_wallet_return_ratios / int_wallet_consistency: Sharpe, Sortino, drawdowns,
      Calmar, information ratio; the spread of 30-day Sharpe across blocks;
    - int_wallet_category_mix: category concentration relative to the categories the data has;
    - int_wallet_market_making: two-sided flow, inventory turnover, net position;
    - int_wallet_wash_stats (from int_wallet_crossings / int_wallet_pairs): crossings with
      repeated partners, self-crossing, rapid round trips;
    - int_wallet_insider_stats (from int_wallet_bets): bets by age and history at the time
      of each bet, late winning bets.
-#}

with

as_of as (

    {{ as_of_date_select() }}

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
             then cast(p.won_positions as {{ double_type() }}) / (p.won_positions + p.lost_positions) end
            as win_rate,
        case when p.decayed_won + p.decayed_lost > 0
             then p.decayed_won / (p.decayed_won + p.decayed_lost) end as decayed_win_rate,
        p.gross_profit_usd,
        p.gross_loss_usd,
        case when p.gross_loss_usd > 0 then p.gross_profit_usd / p.gross_loss_usd end as profit_factor,
        p.realized_pnl_usd,
        coalesce(p.capital_realized_usd, 0) as capital_realized_usd,
        case when p.capital_realized_usd > 0 then p.realized_pnl_usd / p.capital_realized_usd end as roi,
        t.volume_usd,
        t.decayed_volume_usd,
        t.buy_volume_usd,
        t.sell_volume_usd,
        r.sharpe_30d,
        r.sharpe_90d,
        r.sortino_90d,
        r.max_drawdown,
        r.current_drawdown,
        r.calmar_ratio,
        r.information_ratio,
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
        g.effective_categories,
        g.categories_available,
        g.category_breadth,
        g.best_category_edge_z,
        p.realized_pnl_usd / t.trade_count as profit_per_trade_usd,
        t.largest_bet_usd,
        case when t.volume_usd > 0 then p.realized_pnl_usd / t.volume_usd end as return_on_volume,
        p.largest_market_profit_share,
        p.priced_positions,
        p.priced_pnl_usd,
        p.priced_cost_usd,
        case when p.priced_cost_usd > 0 then p.priced_pnl_usd / p.priced_cost_usd end as pricing_edge,
        p.edge_null_variance_usd2,
        p.edge_null_z,
        w.self_crossing_fills,
        w.rapid_round_trips,
        w.wash_trade_share,
        w.pair_wash_fills,
        w.wash_partners,
        w.pair_wash_volume_usd,
        w.wash_volume_share,
        w.wash_circularity,
        case when p.positions > 0 then cast(p.two_sided_positions as {{ double_type() }}) / p.positions end
            as two_sided_position_share,
        mm.markets_traded,
        mm.two_sided_markets,
        mm.flow_balance,
        mm.inventory_turnover,
        mm.net_position_ratio,
        i.new_wallet_bet_usd,
        i.new_wallet_bets_pnl_usd,
        case when t.buy_volume_usd > 0 then coalesce(i.new_wallet_bought_usd, 0) / t.buy_volume_usd end
            as new_wallet_volume_share,
        coalesce(i.insider_like_bets, 0) as insider_like_bets,
        i.insider_like_bet_usd,
        case when t.buy_volume_usd > 0 then coalesce(i.insider_like_bought_usd, 0) / t.buy_volume_usd end
            as insider_like_volume_share,
        i.insider_like_pnl_usd,
        i.insider_like_hours_before_close,
        i.insider_like_prior_fills,
        i.insider_like_age_days
    from {{ ref('int_wallet_trade_stats') }} as t
    cross join as_of as a
    left join {{ ref('int_wallet_position_stats') }} as p on p.wallet_address = t.wallet_address
    left join {{ ref('int_wallet_return_ratios') }} as r on r.wallet_address = t.wallet_address
    left join {{ ref('int_wallet_consistency') }} as k on k.wallet_address = t.wallet_address
    left join {{ ref('int_wallet_category_mix') }} as g on g.wallet_address = t.wallet_address
    left join {{ ref('int_wallet_wash_stats') }} as w on w.wallet_address = t.wallet_address
    left join {{ ref('int_wallet_market_making') }} as mm on mm.wallet_address = t.wallet_address
    left join {{ ref('int_wallet_insider_stats') }} as i on i.wallet_address = t.wallet_address

)

select * from final
