{#-
    Per wallet, its fills up to the as-of day: how many, the first and last, volume (also
    time-decayed by day: weight 2^(−days ago / decay_half_life_days)), bought and sold
    volume, and its largest bet (what one transaction bought of one token; a sweep across
    price levels is one bet). Added up from int_wallet_market_days.
-#}

with

as_of as (

    {{ as_of_date_select() }}

),

days as (

    select
        d.*,
        {{ dbt.datediff('d.trade_date', 'a.as_of_date', 'day') }} as days_ago
    from {{ ref('int_wallet_market_days') }} as d
    cross join as_of as a
    where d.trade_date <= a.as_of_date

),

{{ ids_cte('wallet') }}

per_wallet as (

    select
        wallet_key,
        cast(sum(fills) as bigint) as trade_count,
        min(first_trade_at_unix) as first_trade_at_unix,
        max(last_trade_at_unix) as last_trade_at_unix,
        sum(volume_usd) as volume_usd,
        sum(volume_usd * {{ time_decay('days_ago') }}) as decayed_volume_usd,
        sum(buy_volume_usd) as buy_volume_usd,
        sum(sell_volume_usd) as sell_volume_usd,
        max(largest_bet_usd) as largest_bet_usd
    from days
    group by wallet_key

)

select
    ids_wallet.wallet_address,
    s.wallet_key,
    s.trade_count,
    s.first_trade_at_unix,
    s.last_trade_at_unix,
    s.volume_usd,
    s.decayed_volume_usd,
    s.buy_volume_usd,
    s.sell_volume_usd,
    s.largest_bet_usd
from per_wallet as s
{{ join_ids('s', ['wallet']) }}
