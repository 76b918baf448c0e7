{#-
    Per wallet, its part in wash trading:
    - with other wallets: its fills in crossings with partners it crossed at least
      `wash_min_pair_crossings` times (int_wallet_pairs) — the USD of those fills, the
      share of its volume they are, how many such partners, and how balanced its buying
      and selling in them is (circularity = 1 − |bought − sold| / (bought + sold): rings
      pass the same shares round, so each member buys about what it sells);
    - on its own: self-crossing fills (BUY and SELL of one token in one transaction) and
      rapid round trips (a BUY followed, in another transaction, by a SELL of the same
      shares within 60 s), added up from int_wallet_market_days; wash_trade_share counts
      each such fill once over all fills.
-#}

{%- set min_crossings = var('wash_min_pair_crossings') -%}

with

as_of as (

    {{ as_of_date_select() }}

),

repeated_pairs as (

    select wallet_a, wallet_b from {{ ref('int_wallet_pairs') }} where crossings >= {{ min_crossings }}

),

crossings as (

    select c.seller, c.buyer, c.notional_usd
    from {{ ref('int_wallet_crossings') }} as c
    cross join as_of as a
    where c.trade_date <= a.as_of_date

),

legs as (

    select seller as wallet_address, buyer as partner, 'SELL' as side, notional_usd
    from crossings
    union all
    select buyer as wallet_address, seller as partner, 'BUY' as side, notional_usd
    from crossings

),

repeated_legs as (

    select l.*
    from legs as l
    inner join repeated_pairs as p
        on p.wallet_a = least(l.wallet_address, l.partner)
        and p.wallet_b = greatest(l.wallet_address, l.partner)

),

pair_wash as (

    select
        wallet_address,
        count(*) as wash_fills,
        count(distinct partner) as wash_partners,
        sum(notional_usd) as wash_volume_usd,
        sum(case when side = 'BUY' then notional_usd else 0 end) as wash_bought_usd,
        sum(case when side = 'SELL' then notional_usd else 0 end) as wash_sold_usd
    from repeated_legs
    group by wallet_address

),

own_wash as (

    select
        d.wallet_key,
        sum(d.self_crossing_fills) as self_crossing_fills,
        sum(d.self_crossing_usd) as self_crossing_usd,
        sum(d.rapid_round_trips) as rapid_round_trips
    from {{ ref('int_wallet_market_days') }} as d
    cross join as_of as a
    where d.trade_date <= a.as_of_date
    group by d.wallet_key

),

totals as (

    select wallet_address, wallet_key, trade_count, volume_usd from {{ ref('int_wallet_trade_stats') }}

)

select
    t.wallet_address,
    coalesce(w.wash_fills, 0) as pair_wash_fills,
    coalesce(w.wash_partners, 0) as wash_partners,
    coalesce(w.wash_volume_usd, 0) as pair_wash_volume_usd,
    case when t.volume_usd > 0
         then least(1.0, (coalesce(w.wash_volume_usd, 0) + coalesce(x.self_crossing_usd, 0)) / t.volume_usd) end
        as wash_volume_share,
    case when w.wash_volume_usd > 0
         then 1 - abs(w.wash_bought_usd - w.wash_sold_usd) / w.wash_volume_usd end as wash_circularity,
    coalesce(x.self_crossing_fills, 0) as self_crossing_fills,
    coalesce(x.rapid_round_trips, 0) as rapid_round_trips,
    least(1.0, cast(coalesce(x.self_crossing_fills, 0) + 2 * coalesce(x.rapid_round_trips, 0) as {{ double_type() }})
               / t.trade_count) as wash_trade_share
from totals as t
left join pair_wash as w on w.wallet_address = t.wallet_address
left join own_wash as x on x.wallet_key = t.wallet_key
