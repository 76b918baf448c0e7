{#-
    Per wallet and category, the wallet's pricing edge on its closed positions of known
    cost, and how far it is from what a wallet with no skill would show.

    A position bought at an average price p (USD per share) with cost c pays 1 per share
    with probability p under the no-skill null (the price is the chance), so its P&L has
    mean 0 and variance c²·(1 − p)/p. edge_null_z = Σ P&L / √Σ c²·(1 − p)/p: the wallet's
    P&L in standard deviations of luck. Positions sold before resolution are counted the
    same way (their variance is at most that), so the z is conservative for them.
-#}

with

as_of as (

    {{ as_of_date_select() }}

),

markets as (

    select market_key, category from {{ ref('int_market_categories') }}

),

priced as (

    select
        p.wallet_key,
        coalesce(m.category, 'unknown') as category,
        p.realized_pnl_usd,
        p.bought_usd,
        p.bought_usd / p.bought_shares as avg_price
    from {{ ref('int_positions') }} as p
    cross join as_of as a
    left join markets as m
        on m.market_key = p.market_key
    where p.is_closed
      and p.bought_shares > 0
      and p.bought_usd > 0
      and cast({{ unix_to_timestamp('case when p.is_resolved then p.resolved_at_unix else p.last_fill_at_unix end') }}
               as date) <= a.as_of_date

),

{{ ids_cte('wallet') }}

by_category as (

    select
        wallet_key,
        category,
        count(*) as priced_positions,
        sum(realized_pnl_usd) as pnl_usd,
        sum(bought_usd) as cost_usd,
        sum(bought_usd * bought_usd * (1 - least(avg_price, 0.999)) / greatest(avg_price, 0.001))
            as null_variance_usd2
    from priced
    group by wallet_key, category

)

select
    ids_wallet.wallet_address,
    c.wallet_key,
    c.category,
    c.priced_positions,
    c.pnl_usd,
    c.cost_usd,
    c.null_variance_usd2,
    c.pnl_usd / c.cost_usd as pricing_edge,
    case when c.null_variance_usd2 > 0 then c.pnl_usd / sqrt(c.null_variance_usd2) end as edge_null_z
from by_category as c
{{ join_ids('c', ['wallet']) }}
