{#-
    One row per wallet and market it traded: its days in the market (int_wallet_market_days)
    added up, for the per-wallet models that measure a wallet market by market
    (int_wallet_market_making, int_wallet_category_mix). They group a wallet's markets
    instead of every wallet-market-day, and a daily run adds its day to the markets it
    touched instead of adding every day of every market up again.
    - days, fills and USD volume; shares added to and removed from the exposure to the
      market's first outcome, the fills that added and removed, the exposure after its last
      day and the peak |exposure| after any fill.
    With the `as_of_date` var, only the days up to it (a build as of an earlier day).
    Incremental: a partition window rebuilds the days from its first on
    (int_wallet_market_days); each market with a day from then on, before or after the
    window's run, is added up again from all its days. A market left without days (a
    re-ingested day that lost its fills) is written without fills and removed after the
    insert.
-#}

{{ config(**window_incremental(['wallet_key', 'market_key'], reads_own_rows=true)) }}
{{ config(post_hook="{% if in_partition_window() %}delete from {{ this }} where fills = 0{% endif %}") }}

{%- if in_partition_window() and var('as_of_date', none) %}
    {{ exceptions.raise_compiler_error("int_wallet_markets: a partition window builds the latest days; "
                                       ~ "as_of_date is for a build without one") }}
{%- endif %}

with

{% if in_partition_window() -%}
-- The markets whose days the window's run rewrote, or whose row counted such a day.
changed as (

    select wallet_key, market_key
    from {{ ref('int_wallet_market_days') }}
    where trade_date >= cast('{{ var("partition_start") }}' as date)
    union
    select wallet_key, market_key
    from {{ this }}
    where last_trade_date >= cast('{{ var("partition_start") }}' as date)

),

days as (

    select d.*
    from {{ ref('int_wallet_market_days') }} as d
    where exists (
        select 1 from changed as c
        where c.wallet_key = d.wallet_key and c.market_key = d.market_key
    )

),
{%- else -%}
days as (

    select *
    from {{ ref('int_wallet_market_days') }}
    {%- if var('as_of_date', none) %}
    where trade_date <= cast('{{ var("as_of_date") }}' as date)
    {%- endif %}

),
{%- endif %}

markets as (

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
        cast(sum(exposure_change_micro_shares) as {{ double_type() }}) / 1000000 as exposure_shares,
        max(greatest(abs(exposure_before_day_shares + max_exposure_in_day_shares),
                     abs(exposure_before_day_shares + min_exposure_in_day_shares))) as peak_exposure_shares
    from days
    group by wallet_key, market_key

)

{% if in_partition_window() -%}
select
    c.wallet_key,
    c.market_key,
    coalesce(m.trade_days, 0) as trade_days,
    m.first_trade_date,
    m.last_trade_date,
    coalesce(m.fills, 0) as fills,
    m.volume_usd,
    m.added_shares,
    m.removed_shares,
    m.adding_fills,
    m.removing_fills,
    m.exposure_shares,
    m.peak_exposure_shares
from changed as c
left join markets as m
    on m.wallet_key = c.wallet_key and m.market_key = c.market_key
{%- else -%}
select * from markets
{%- endif %}
