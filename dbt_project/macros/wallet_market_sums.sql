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

{#- In a window run of int_wallet_markets (compiled after int_wallet_market_days has rebuilt
    the days from the window's first on): whether its own rows, as the runs before left
    them, count every earlier day. They do when the rows that end before the window and the
    earlier days of the rows that reach into it (added up again anyway) number the days and
    fills before the window. Then a market adds the window's days to its row. False after a
    run that built int_wallet_market_days without it, a build as of an earlier day, or rows
    lost: every market is added up again from all its days. -#}
{% macro wallet_markets_resume_from_own_rows() -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set days = ref('int_wallet_market_days') -%}
    {%- set start = "cast('" ~ partition_start() ~ "' as date)" -%}
    {%- set counts = run_query(
        "select (select count(*) from " ~ days ~ " where trade_date < " ~ start ~ "), "
        ~ "(select coalesce(sum(fills), 0) from " ~ days ~ " where trade_date < " ~ start ~ "), "
        ~ "(select coalesce(sum(trade_days), 0) from " ~ this ~ " where last_trade_date < " ~ start ~ ") "
        ~ "+ (select count(*) from " ~ days ~ " as d where d.trade_date < " ~ start ~ " and exists (select 1 from "
        ~ this ~ " as k where k.wallet_key = d.wallet_key and k.market_key = d.market_key and k.last_trade_date >= "
        ~ start ~ ")), "
        ~ "(select coalesce(sum(fills), 0) from " ~ this ~ " where last_trade_date < " ~ start ~ ") "
        ~ "+ (select coalesce(sum(d.fills), 0) from " ~ days ~ " as d where d.trade_date < " ~ start ~ " and exists (select 1 from "
        ~ this ~ " as k where k.wallet_key = d.wallet_key and k.market_key = d.market_key and k.last_trade_date >= "
        ~ start ~ "))"
    ).rows[0] -%}
    {%- if counts[0] != counts[2] or counts[1] != counts[3] -%}
        {{ log(this.identifier ~ ": its rows count " ~ counts[2] ~ " days (" ~ counts[3] ~ " fills) before the window and "
               ~ days.identifier ~ " " ~ counts[0] ~ " (" ~ counts[1] ~ "): every market is added up again", info=True) }}
        {{ return(false) }}
    {%- endif -%}
    {{ return(true) }}
{%- endmacro %}
