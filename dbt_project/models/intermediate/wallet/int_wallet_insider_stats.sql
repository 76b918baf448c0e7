{#-
    Per wallet, the bets that look like inside information or a new wallet's gamble
    (int_wallet_bets), measured at the time of each bet:
    - new-wallet bets: placed while the wallet was younger than `new_wallet_max_age_days`
      (its age known: first seen after the data began);
    - insider-like bets: placed within `insider_late_bet_hours` of the market's close by a
      wallet with a thin history then (at most `insider_max_prior_fills` earlier fills, or
      earlier volume at most 1 / `insider_min_bet_to_prior_volume` of the bet), that won
      or whose market has not resolved yet (a late bet that lost was no inside knowledge).
    Scoring compares the largest such bet with a size and their USD with everything the
    wallet bought: a skilled wallet's first bet in the data can look like this, but it is
    a small part of a long record.
-#}

{%- set max_age_days = var('new_wallet_max_age_days') -%}
{%- set late_hours = var('insider_late_bet_hours') -%}
{%- set max_prior = var('insider_max_prior_fills') -%}
{%- set bet_multiple = var('insider_min_bet_to_prior_volume') -%}

with

bets as (

    select
        b.wallet_key,
        b.token_key,
        b.bet_usd,
        b.bet_shares,
        b.bet_at_unix,
        b.hours_before_close,
        b.prior_fills,
        b.age_at_bet_days,
        b.age_known and b.age_at_bet_days < {{ max_age_days }} as is_new_wallet_bet,
        (b.hours_before_close between 0 and {{ late_hours }})
            and (b.prior_fills <= {{ max_prior }} or b.prior_volume_usd * {{ bet_multiple }} <= b.bet_usd)
            as is_late_thin_bet
    from {{ ref('int_wallet_bets') }} as b

),

resolutions as (

    select token_key, payout_usd_per_share, is_winner
    from {{ ref('stg_polymarket__market_resolutions') }}

),

-- The bets measured below (a new wallet's, or late on a thin history: a few in a hundred),
-- with their outcome: every other bet is only counted.
flagged as (

    select
        f.*,
        case when r.payout_usd_per_share is not null
             then f.bet_shares * r.payout_usd_per_share - f.bet_usd end as bet_pnl_usd,
        f.is_late_thin_bet and coalesce(r.is_winner, true) as is_insider_like
    from bets as f
    left join resolutions as r
        on r.token_key = f.token_key
    where f.is_new_wallet_bet or f.is_late_thin_bet

),

{{ ids_cte('wallet') }}

as_of as (

    {{ as_of_date_select() }}

),

-- Counted from the bets themselves: int_wallet_bets read a second time would be held
-- whole between its two readers.
counted as (

    select b.wallet_key, count(*) as bets
    from {{ ref('int_wallet_bets_placed') }} as b
    cross join as_of as a
    where b.trade_date <= a.as_of_date
    group by b.wallet_key

),

measured as (

    select
        wallet_key,
        max(case when is_new_wallet_bet then bet_usd end) as new_wallet_bet_usd,
        sum(case when is_new_wallet_bet then bet_pnl_usd end) as new_wallet_bets_pnl_usd,
        sum(case when is_new_wallet_bet then bet_usd else 0 end) as new_wallet_bought_usd,
        sum(case when is_insider_like then 1 else 0 end) as insider_like_bets,
        max(case when is_insider_like then bet_usd end) as insider_like_bet_usd,
        sum(case when is_insider_like then bet_usd else 0 end) as insider_like_bought_usd,
        sum(case when is_insider_like then bet_pnl_usd end) as insider_like_pnl_usd,
        -- The largest insider-like bet (the earliest of equal ones).
        {{ last_by('hours_before_close', ['bet_usd', '-bet_at_unix'], where='is_insider_like') }}
            as insider_like_hours_before_close,
        {{ last_by('prior_fills', ['bet_usd', '-bet_at_unix'], where='is_insider_like') }}
            as insider_like_prior_fills,
        {{ last_by('age_at_bet_days', ['bet_usd', '-bet_at_unix'], where='is_insider_like') }}
            as insider_like_age_days
    from flagged
    group by wallet_key

),

per_wallet as (

    select
        c.wallet_key,
        c.bets,
        m.new_wallet_bet_usd,
        m.new_wallet_bets_pnl_usd,
        coalesce(m.new_wallet_bought_usd, 0) as new_wallet_bought_usd,
        coalesce(m.insider_like_bets, 0) as insider_like_bets,
        m.insider_like_bet_usd,
        coalesce(m.insider_like_bought_usd, 0) as insider_like_bought_usd,
        m.insider_like_pnl_usd,
        m.insider_like_hours_before_close,
        m.insider_like_prior_fills,
        m.insider_like_age_days
    from counted as c
    left join measured as m
        on m.wallet_key = c.wallet_key

)

select
    ids_wallet.wallet_address,
    w.*
from per_wallet as w
{{ join_ids('w', ['wallet']) }}
