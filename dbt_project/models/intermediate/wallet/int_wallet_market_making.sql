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
    Added up from int_wallet_markets (each market's days: the running exposure after a fill
    is the exposure before its day plus the day's running exposure), as of the day it was
    built for (with `as_of_date`, build int_wallet_markets in the same run).
    Incremental: a partition window adds up again the wallets it touches (every wallet
    whose markets it changed); the others' rows stand.
-#}

{#- touched_cte() refs it inside a conditional: declare it. -#}
-- depends_on: {{ ref('int_touched_positions') }}
{{ config(**window_incremental(['wallet_key'], replace_touched='wallets')) }}

with

{{ touched_cte() }}

{{ ids_cte('wallet') }}

per_wallet as (

    select
        wallet_key,
        count(*) as markets_traded,
        sum(case when adding_fills >= 4 and removing_fills >= 4 then 1 else 0 end) as two_sided_markets,
        case when sum(added_shares + removed_shares) > 0
             then sum(2 * least(added_shares, removed_shares)) / sum(added_shares + removed_shares) end as flow_balance,
        case when sum(peak_exposure_shares) > 0
             then sum(added_shares + removed_shares) / (2 * sum(peak_exposure_shares)) end as inventory_turnover,
        case when sum(added_shares + removed_shares) > 0
             then sum(abs(exposure_shares)) / sum(added_shares + removed_shares) end as net_position_ratio
    from {{ ref('int_wallet_markets') }} as w
    {{ where_touched_wallet('w') }}
    group by wallet_key

)

select
    ids_wallet.wallet_address,
    m.wallet_key,
    m.markets_traded,
    m.two_sided_markets,
    m.flow_balance,
    m.inventory_turnover,
    m.net_position_ratio
from per_wallet as m
{{ join_ids('m', ['wallet']) }}
