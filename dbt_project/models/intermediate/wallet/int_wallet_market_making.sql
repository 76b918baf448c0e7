{#-
    Per wallet, how much its flow looks like quoting both sides of a market rather than
    taking a view, market by market, in exposure to the market's first outcome ("yes
    shares"): buying outcome 0 or selling another outcome adds exposure, selling
    outcome 0 or buying another removes it (buying the other side is how a maker sells
    without inventory). Per (wallet, market) the running exposure after each fill gives:
    - flow_balance = Σ 2·min(added, removed) / Σ (added + removed): 1 when every share
      bought was sold again (or offset), 0 for one-way flow;
    - inventory_turnover = Σ (added + removed) / (2 · Σ peak |exposure|): how many times
      the wallet cycled its peak inventory (1 for buy then sell once, ≫ 1 for a maker);
    - net_position_ratio = Σ |final exposure| / Σ (added + removed): near 0 for a wallet
      that keeps ending flat, 1 for buy-and-hold.
    Markets with at least 4 fills on both sides count as two-sided markets.
-#}

with

trades as (

    select * from {{ ref('int_trades_as_of') }}

),

tokens as (

    select token_id, outcome_index from {{ ref('stg_polymarket__market_tokens') }}

),

fills as (

    select
        t.wallet_address,
        t.condition_id,
        t.traded_at_unix,
        t.trade_key,
        case when (t.side = 'BUY') = (coalesce(k.outcome_index, t.outcome_index, 0) = 0) then t.shares else -t.shares end
            as exposure_change
    from trades as t
    left join tokens as k
        on k.token_id = t.token_id

),

running as (

    select
        wallet_address,
        condition_id,
        exposure_change,
        sum(exposure_change) over (
            partition by wallet_address, condition_id order by traded_at_unix, trade_key
            rows between unbounded preceding and current row
        ) as exposure_after,
        row_number() over (partition by wallet_address, condition_id order by traded_at_unix desc, trade_key desc)
            as recency
    from fills

),

per_market as (

    select
        wallet_address,
        condition_id,
        count(*) as fills,
        sum(case when exposure_change > 0 then exposure_change else 0 end) as added_shares,
        sum(case when exposure_change < 0 then -exposure_change else 0 end) as removed_shares,
        max(abs(exposure_after)) as peak_exposure_shares,
        max(case when recency = 1 then abs(exposure_after) end) as final_exposure_shares,
        sum(case when exposure_change > 0 then 1 else 0 end) as adding_fills,
        sum(case when exposure_change < 0 then 1 else 0 end) as removing_fills
    from running
    group by wallet_address, condition_id

)

select
    wallet_address,
    count(*) as markets_traded,
    sum(case when adding_fills >= 4 and removing_fills >= 4 then 1 else 0 end) as two_sided_markets,
    case when sum(added_shares + removed_shares) > 0
         then sum(2 * least(added_shares, removed_shares)) / sum(added_shares + removed_shares) end as flow_balance,
    case when sum(peak_exposure_shares) > 0
         then sum(added_shares + removed_shares) / (2 * sum(peak_exposure_shares)) end as inventory_turnover,
    case when sum(added_shares + removed_shares) > 0
         then sum(final_exposure_shares) / sum(added_shares + removed_shares) end as net_position_ratio
from per_market
group by wallet_address
