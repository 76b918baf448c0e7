{#-
    Per wallet, its positions (wallet × token, int_positions): outcomes (also
    time-decayed by closing day: weight 2^(−days since closing / decay_half_life_days)),
    gross profit and loss, holds, sizes, the capital behind its realized P&L, the share of
    its profit from its best market (int_wallet_market_pnl), and its pricing edge against
    the no-skill null over every closed position of known cost (int_wallet_category_edge,
    summed).
-#}

with

as_of as (

    {{ as_of_date_select() }}

),

positions as (

    select
        p.wallet_key,
        p.market_key,
        p.is_closed,
        p.outcome,
        p.realized_pnl_usd,
        p.hold_seconds,
        p.bought_usd,
        p.bought_shares,
        p.sold_shares,
        {{ dbt.datediff(
            'cast(' ~ unix_to_timestamp('case when p.is_resolved then p.resolved_at_unix else p.last_fill_at_unix end')
            ~ ' as date)', 'a.as_of_date', 'day') }} as closed_days_ago
    from {{ ref('int_positions') }} as p
    cross join as_of as a

),

{{ ids_cte('wallet') }}

outcomes as (

    select
        wallet_key,
        count(*) as positions,
        sum(case when is_closed then 1 else 0 end) as closed_positions,
        sum(case when outcome = 'won' then 1 else 0 end) as won_positions,
        sum(case when outcome = 'lost' then 1 else 0 end) as lost_positions,
        sum(case when outcome = 'won'
                 then {{ time_decay('closed_days_ago') }} else 0 end)
            as decayed_won,
        sum(case when outcome = 'lost'
                 then {{ time_decay('closed_days_ago') }} else 0 end)
            as decayed_lost,
        sum(case when is_closed and realized_pnl_usd > 0 then realized_pnl_usd else 0 end) as gross_profit_usd,
        sum(case when is_closed and realized_pnl_usd < 0 then -realized_pnl_usd else 0 end) as gross_loss_usd,
        sum(realized_pnl_usd) as realized_pnl_usd,
        avg(case when is_closed then cast(hold_seconds as {{ double_type() }}) end) as avg_hold_seconds,
        avg(case when bought_usd > 0 then bought_usd end) as mean_position_usd,
        stddev_samp(case when bought_usd > 0 then bought_usd end) as stddev_position_usd,
        sum(case when bought_shares > 0 and sold_shares > 0 then 1 else 0 end) as two_sided_positions
    from positions
    group by wallet_key

),

-- Added up from the wallet's days (5.4M rows at 37.3M) rather than its realizations (17.8M).
capital as (

    select wallet_key, sum(capital_realized_usd) as capital_realized_usd
    from {{ ref('fct_wallet_daily_pnl') }}
    group by wallet_key

),

market_concentration as (

    select
        wallet_key,
        case
            when sum(case when realized_pnl_usd > 0 then realized_pnl_usd else 0 end) > 0
                then max(realized_pnl_usd) / sum(case when realized_pnl_usd > 0 then realized_pnl_usd else 0 end)
        end as largest_market_profit_share
    from {{ ref('int_wallet_market_pnl') }}
    group by wallet_key

),

edge as (

    select
        wallet_key,
        sum(priced_positions) as priced_positions,
        sum(pnl_usd) as priced_pnl_usd,
        sum(cost_usd) as priced_cost_usd,
        sum(null_variance_usd2) as edge_null_variance_usd2
    from {{ ref('int_wallet_category_edge') }}
    group by wallet_key

)

select
    ids_wallet.wallet_address,
    o.*,
    coalesce(c.capital_realized_usd, 0) as capital_realized_usd,
    m.largest_market_profit_share,
    coalesce(e.priced_positions, 0) as priced_positions,
    e.priced_pnl_usd,
    e.priced_cost_usd,
    e.edge_null_variance_usd2,
    case when e.edge_null_variance_usd2 > 0 then e.priced_pnl_usd / sqrt(e.edge_null_variance_usd2) end
        as edge_null_z
from outcomes as o
{{ join_ids('o', ['wallet']) }}
left join capital as c on c.wallet_key = o.wallet_key
left join market_concentration as m on m.wallet_key = o.wallet_key
left join edge as e on e.wallet_key = o.wallet_key
