{#-
    Per wallet, how its volume spreads across categories, relative to how many categories
    the data has: the Herfindahl index (0–10000), the effective number of categories
    (10000 / HHI: 1 for a wallet in one category, n for one spread evenly over n), the
    categories the as-of data covers (markets of a known category anyone traded), and the
    breadth = effective categories / categories available. best_category_edge_z is the
    wallet's strongest category against the no-skill null (int_wallet_category_edge).
    Volume is added up from int_wallet_markets, as of the day it was built for (with
    `as_of_date`, build int_wallet_markets in the same run).
-#}

with

markets as (

    select market_key, category from {{ ref('int_market_categories') }}

),

-- Read by two CTEs: not materialized (DuckDB would copy it, a row per wallet-market).
wallet_markets as {{ not_materialized() }} (

    select w.wallet_key, w.volume_usd, coalesce(m.category, 'unknown') as category
    from {{ ref('int_wallet_markets') }} as w
    left join markets as m
        on m.market_key = w.market_key

),

{{ ids_cte('wallet') }}

category_volume as (

    select
        wallet_key,
        category,
        sum(volume_usd) as volume_usd,
        row_number() over (partition by wallet_key order by sum(volume_usd) desc, category) as volume_rank
    from wallet_markets
    group by wallet_key, category

),

wallet_volume as (

    select wallet_key, sum(volume_usd) as volume_usd
    from category_volume
    group by wallet_key

),

available as (

    select count(distinct category) as categories_available
    from wallet_markets
    where category <> 'unknown'

),

mix as (

    select
        c.wallet_key,
        max(case when c.volume_rank = 1 then c.category end) as primary_category,
        count(*) as category_count,
        sum(power(c.volume_usd / w.volume_usd, 2)) * 10000 as category_hhi,
        sum(case when c.volume_rank <= 2 then c.volume_usd else 0 end) / w.volume_usd as top_two_category_share
    from category_volume as c
    inner join wallet_volume as w
        on w.wallet_key = c.wallet_key
    where w.volume_usd > 0
    group by c.wallet_key, w.volume_usd

),

edges as (

    select wallet_key, max(edge_null_z) as best_category_edge_z
    from {{ ref('int_wallet_category_edge') }}
    where category <> 'unknown'
    group by wallet_key

)

select
    ids_wallet.wallet_address,
    m.*,
    case when m.category_hhi > 0 then 10000.0 / m.category_hhi end as effective_categories,
    a.categories_available,
    case when m.category_hhi > 0 and a.categories_available > 0
         then least(1.0, (10000.0 / m.category_hhi) / a.categories_available) end as category_breadth,
    e.best_category_edge_z
from mix as m
{{ join_ids('m', ['wallet']) }}
cross join available as a
left join edges as e
    on e.wallet_key = m.wallet_key
