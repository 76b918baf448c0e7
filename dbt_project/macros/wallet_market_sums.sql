{#- int_wallet_markets' sums of the wallet-market-days of `relation` (int_wallet_market_days)
    that meet `where` (alias d), by wallet and market: the body of a CTE. -#}
{% macro wallet_market_sums(relation, where) -%}
    select
        wallet_key,
        market_key,
        count(*) as trade_days,
        min(trade_date) as first_trade_date,
        max(trade_date) as last_trade_date,
        sum(fills) as fills,
        sum(volume_usd) as volume_usd,
        sum(added_shares) as added_shares,
        sum(removed_shares) as removed_shares,
        sum(adding_fills) as adding_fills,
        sum(removing_fills) as removing_fills,
        sum(exposure_change_micro_shares) as exposure_micro_shares,
        max(greatest(abs(exposure_before_day_shares + max_exposure_in_day_shares),
                     abs(exposure_before_day_shares + min_exposure_in_day_shares))) as peak_exposure_shares
    from {{ relation }} as d
    {%- if where %}
    where {{ where }}
    {%- endif %}
    group by wallet_key, market_key
{%- endmacro %}
