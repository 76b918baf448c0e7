{#-
    What each wallet redeemed of each market (REDEEM activity of the wallets whose
    activity is read), against the shares on record. A redeem burns every share the
    wallet holds in the market and pays the resolution's payout; the shares on record
    are already settled at that payout in int_positions, so a redeem adds what the
    record could not know: how many shares beyond it were redeemed (shares of unknown
    cost: bought before the window, or received by conversion or transfer) and the USD
    paid for them. /v2 redeem rows carry no share count: then only the USD is known.
-#}

with

redeems as (

    select
        wallet_key,
        market_key,
        min(wallet_address) as wallet_address,
        min(condition_id) as condition_id,
        count(*) as redeems,
        -- A share count only when every redeem of the market carries one.
        case when count(shares) = count(*) then sum(shares) end as redeemed_shares,
        sum(usdc_amount) as redeemed_usd,
        min(occurred_at_unix) as first_redeemed_at_unix,
        max(occurred_at_unix) as last_redeemed_at_unix
    from {{ ref('stg_polymarket__activity') }}
    where activity_type = 'REDEEM'
    group by wallet_key, market_key

),

on_record as (

    select
        p.wallet_key,
        p.market_key,
        sum(case when is_resolved then open_shares else 0 end) as recorded_shares,
        sum(case when is_resolved then open_shares * payout_usd_per_share else 0 end) as recorded_payout_usd,
        max(case when is_resolved then 1 else 0 end) = 1 as resolution_known
    from {{ ref('int_positions') }} as p
    -- Only the markets a wallet redeemed in: the rest of the positions have nothing to add.
    where exists (select 1 from redeems as r where r.wallet_key = p.wallet_key and r.market_key = p.market_key)
    group by p.wallet_key, p.market_key

),

resolved_markets as (

    select distinct condition_id from {{ ref('stg_polymarket__market_resolutions') }}

)

select
    r.wallet_address,
    r.condition_id,
    r.redeems,
    r.redeemed_shares,
    r.redeemed_usd,
    r.first_redeemed_at_unix,
    r.last_redeemed_at_unix,
    coalesce(o.recorded_shares, 0) as recorded_shares,
    coalesce(o.recorded_payout_usd, 0) as recorded_payout_usd,
    (m.condition_id is not null) as resolution_known,
    case
        when r.redeemed_shares is null then null
        when r.redeemed_shares > coalesce(o.recorded_shares, 0) then r.redeemed_shares - coalesce(o.recorded_shares, 0)
        else 0
    end as unknown_cost_shares_redeemed,
    case
        when r.redeemed_usd > coalesce(o.recorded_payout_usd, 0) then r.redeemed_usd - coalesce(o.recorded_payout_usd, 0)
        else 0
    end as unknown_cost_payout_usd
from redeems as r
left join on_record as o
    on o.wallet_key = r.wallet_key
    and o.market_key = r.market_key
left join resolved_markets as m
    on m.condition_id = r.condition_id
