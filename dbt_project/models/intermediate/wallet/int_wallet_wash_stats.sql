{#-
    Per wallet, its part in wash trading:
    - with other wallets: its fills in crossings with partners it crossed at least
      `wash_min_pair_crossings` times (int_wallet_pairs) — the USD of those fills, the
      share of its volume they are, how many such partners, and how balanced its buying
      and selling in them is (circularity = 1 − |bought − sold| / (bought + sold): rings
      pass the same shares round, so each member buys about what it sells);
    - on its own: self-crossing fills (BUY and SELL of one token in one transaction) and
      rapid round trips (a BUY followed, in another transaction, by a SELL of the same
      shares within 60 s); wash_trade_share counts each such fill once over all fills.
-#}

{%- set min_crossings = var('wash_min_pair_crossings') -%}

with

trades as (

    select * from {{ ref('int_trades_as_of') }}

),

repeated_pairs as (

    select wallet_a, wallet_b from {{ ref('int_wallet_pairs') }} where crossings >= {{ min_crossings }}

),

legs as (

    select seller as wallet_address, buyer as partner, 'SELL' as side, notional_usd
    from {{ ref('int_wallet_crossings') }}
    union all
    select buyer as wallet_address, seller as partner, 'BUY' as side, notional_usd
    from {{ ref('int_wallet_crossings') }}

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

self_crossing as (

    select wallet_address, sum(fills) as self_crossing_fills, sum(volume_usd) as self_crossing_usd
    from (
        select wallet_address, transaction_hash, token_id, count(*) as fills, sum(notional_usd) as volume_usd
        from trades
        group by wallet_address, transaction_hash, token_id
        having count(distinct side) = 2
    ) as t
    group by wallet_address

),

ordered_fills as (

    select
        wallet_address,
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

round_trips as (

    select wallet_address, count(*) as rapid_round_trips
    from ordered_fills
    where side = 'BUY' and next_side = 'SELL'
      and abs(next_shares - shares) < 1e-9
      and next_at_unix - traded_at_unix <= 60
      and next_transaction_hash <> transaction_hash
    group by wallet_address

),

totals as (

    select wallet_address, trade_count, volume_usd from {{ ref('int_wallet_trade_stats') }}

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
    coalesce(r.rapid_round_trips, 0) as rapid_round_trips,
    least(1.0, cast(coalesce(x.self_crossing_fills, 0) + 2 * coalesce(r.rapid_round_trips, 0) as {{ double_type() }})
               / t.trade_count) as wash_trade_share
from totals as t
left join pair_wash as w on w.wallet_address = t.wallet_address
left join self_crossing as x on x.wallet_address = t.wallet_address
left join round_trips as r on r.wallet_address = t.wallet_address
