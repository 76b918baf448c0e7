{#-
    Pairs of wallets that cross each other (int_wallet_crossings), one row per pair
    (wallet_a < wallet_b): how often, in which direction, for how much, in how many
    markets, and how much of the shares that went one way came back (circularity =
    1 − |USD a→b − USD b→a| / total: 1 when the pair trades the same volume back and forth,
    0 when all of it went one way).
-#}

with

as_of as (

    {{ as_of_date_select() }}

),

crossings as (

    {{ rows_as_of(ref('int_wallet_crossings'), 'trade_date') }}

)

select
    least(seller, buyer) as wallet_a,
    greatest(seller, buyer) as wallet_b,
    count(*) as crossings,
    sum(case when seller < buyer then 1 else 0 end) as crossings_a_to_b,
    sum(case when seller > buyer then 1 else 0 end) as crossings_b_to_a,
    sum(case when same_transaction then 1 else 0 end) as same_transaction_crossings,
    sum(notional_usd) as crossed_usd,
    count(distinct condition_id) as markets,
    min(traded_at_unix) as first_crossing_at_unix,
    max(traded_at_unix) as last_crossing_at_unix,
    case when sum(notional_usd) > 0
         then 1 - abs(sum(case when seller < buyer then notional_usd else 0 end)
                      - sum(case when seller > buyer then notional_usd else 0 end)) / sum(notional_usd)
    end as circularity
from crossings
group by least(seller, buyer), greatest(seller, buyer)
