{#-
    Every bet up to the as-of day (int_wallet_bets_placed: what one transaction of a wallet
    bought of one token, with the wallet's fills and USD before it) and what can change
    after it is placed:
    - age_at_bet_days: days since the wallet was first seen (any fill or activity);
      age_known is false while the wallet was first seen within `new_wallet_max_age_days`
      of the start of the data (it may be older than the data: real histories start
      mid-life);
    - hours_before_close: from the bet to the market's close (Gamma's closedTime, else the
      resolution, else — the market still open — its scheduled end date).
    Its reader joins the outcome (int_wallet_insider_stats) to the few bets it measures.
-#}

{{ config(materialized='ephemeral') }}

{%- set max_age_days = var('new_wallet_max_age_days') -%}

with

as_of as (

    {{ as_of_date_select() }}

),

bets as (

    {{ rows_as_of(ref('int_wallet_bets_placed'), 'trade_date') }}

),

-- Each wallet's first fill up to the as-of day, as trade stats found it (one row a wallet).
first_fills as (

    select wallet_key, first_trade_at_unix from {{ ref('int_wallet_trade_stats') }}

),

activity as (

    select x.wallet_key, min(x.occurred_at_unix) as first_at_unix
    from {{ ref('stg_polymarket__activity') }} as x
    cross join as_of as a
    where x.activity_date <= a.as_of_date
    group by x.wallet_key

),

first_seen as (

    select f.wallet_key, least(f.first_trade_at_unix, coalesce(x.first_at_unix, f.first_trade_at_unix))
        as first_seen_at_unix
    from first_fills as f
    left join activity as x
        on x.wallet_key = f.wallet_key

),

data_start as (

    select min(first_trade_at_unix) as data_start_at_unix from first_fills

),

closes as (

    select
        {{ hex_id_key('m.condition_id') }} as market_key,
        coalesce(m.closed_at_unix, min(r.resolved_at_unix), m.end_date_unix) as closed_at_unix
    from {{ ref('stg_polymarket__markets') }} as m
    left join {{ ref('stg_polymarket__market_resolutions') }} as r
        on r.condition_id = m.condition_id
    group by m.condition_id, m.closed_at_unix, m.end_date_unix

)

-- Keys only: its one reader groups by wallet, and ids would be carried through every join.
select
    b.wallet_key,
    b.market_key,
    b.token_key,
    b.bet_at_unix,
    b.bet_usd,
    b.bet_shares,
    cast(b.bet_at_unix - f.first_seen_at_unix as {{ double_type() }}) / 86400 as age_at_bet_days,
    f.first_seen_at_unix >= d.data_start_at_unix + {{ max_age_days }} * 86400 as age_known,
    b.prior_fills,
    b.prior_volume_usd,
    case when c.closed_at_unix is not null
         then cast(c.closed_at_unix - b.bet_at_unix as {{ double_type() }}) / 3600 end as hours_before_close
from bets as b
inner join first_seen as f on f.wallet_key = b.wallet_key
cross join data_start as d
left join closes as c on c.market_key = b.market_key
