{#-
    Win rate of resolved positions by market category, across all wallets: the prior
    toward which Bayesian scoring shrinks a wallet's own win rate. Flat positions
    (zero P&L) count as neither wins nor losses.
-#}

with positions as (

    select p.outcome, p.realized_pnl_usd, coalesce(m.category, 'unknown') as category
    from {{ ref('int_positions') }} as p
    left join {{ ref('int_market_categories') }} as m
        on m.market_key = p.market_key
    where p.outcome in ('won', 'lost')

)

select
    category,
    count(*) as resolved_positions,
    cast(sum(case when outcome = 'won' then 1 else 0 end) as bigint) as won_positions,
    cast(sum(case when outcome = 'lost' then 1 else 0 end) as bigint) as lost_positions,
    cast(sum(case when outcome = 'won' then 1 else 0 end) as {{ double_type() }}) / count(*) as win_rate
from positions
group by category
