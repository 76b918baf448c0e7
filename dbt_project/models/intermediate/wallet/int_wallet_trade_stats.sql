{#-
    Per wallet, its fills up to the as-of day: how many, the first and last, volume (also
    time-decayed: weight 2^(−days ago / decay_half_life_days)), bought and sold volume,
    and its largest bet (int_wallet_bets: what one transaction bought of one token; a sweep
    across price levels is one bet).
-#}

with

trades as (

    select * from {{ ref('int_trades_as_of') }}

),

totals as (

    select
        wallet_address,
        count(*) as trade_count,
        min(traded_at_unix) as first_trade_at_unix,
        max(traded_at_unix) as last_trade_at_unix,
        sum(notional_usd) as volume_usd,
        sum(notional_usd * {{ time_decay('days_ago') }})
            as decayed_volume_usd,
        sum(case when side = 'BUY' then notional_usd else 0 end) as buy_volume_usd,
        sum(case when side = 'SELL' then notional_usd else 0 end) as sell_volume_usd
    from trades
    group by wallet_address

),

largest_bets as (

    select wallet_address, max(bet_usd) as largest_bet_usd
    from {{ ref('int_wallet_bets') }}
    group by wallet_address

)

select
    t.*,
    b.largest_bet_usd
from totals as t
left join largest_bets as b
    on b.wallet_address = t.wallet_address
