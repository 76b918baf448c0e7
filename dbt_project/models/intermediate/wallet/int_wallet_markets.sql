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
    (int_wallet_market_days). A market whose row counts only earlier days adds the new
    days to it (a daily run); one whose row counts a day from the window on (a backfill, a
    re-ingested day) is added up again from all its days. A market left without days (a
    re-ingested day that lost its fills) is written without fills and removed after the
    insert.
-#}

{{ config(**window_incremental(['wallet_key', 'market_key'], reads_own_rows=true)) }}
{{ config(post_hook="{% if in_partition_window() %}delete from {{ this }} where fills = 0{% endif %}") }}

{%- if in_partition_window() and var('as_of_date', none) %}
    {{ exceptions.raise_compiler_error("int_wallet_markets: a partition window builds the latest days; "
                                       ~ "as_of_date is for a build without one") }}
{%- endif %}


{%- set window_start = "cast('" ~ (partition_start() or '') ~ "' as date)" %}
{%- set resume = in_partition_window() and wallet_markets_resume_from_own_rows() %}

with

{% if in_partition_window() -%}
-- The days the window's run rebuilt (every day from its first on).
new_days as (

    {{ wallet_market_sums(ref('int_wallet_market_days'), 'd.trade_date >= ' ~ window_start) }}

),

kept as (

    select k.*
    from {{ this }} as k
    where k.last_trade_date >= {{ window_start }}
       or exists (select 1 from new_days as n where n.wallet_key = k.wallet_key and n.market_key = k.market_key)

),

-- Rows that counted a day the run rebuilt: added up again from all their days.
recounted_markets as (

    {%- if resume %}
    select wallet_key, market_key from kept where last_trade_date >= {{ window_start }}
    {%- else %}
    -- Its rows do not count every earlier day: every market, from all its days.
    select wallet_key, market_key from {{ this }}
    union
    select wallet_key, market_key from {{ ref('int_wallet_market_days') }}
    {%- endif %}

),

recounted as (

    {{ wallet_market_sums(ref('int_wallet_market_days'),
                   'exists (select 1 from recounted_markets as r where r.wallet_key = d.wallet_key '
                   ~ 'and r.market_key = d.market_key)') }}

),

-- Every other market of the window: its row (if any) plus the new days.
added as (

    select
        n.wallet_key,
        n.market_key,
        n.trade_days + coalesce(k.trade_days, 0) as trade_days,
        coalesce(k.first_trade_date, n.first_trade_date) as first_trade_date,
        n.last_trade_date,
        n.fills + coalesce(k.fills, 0) as fills,
        n.volume_usd + coalesce(k.volume_usd, 0) as volume_usd,
        n.added_shares + coalesce(k.added_shares, 0) as added_shares,
        n.removed_shares + coalesce(k.removed_shares, 0) as removed_shares,
        n.adding_fills + coalesce(k.adding_fills, 0) as adding_fills,
        n.removing_fills + coalesce(k.removing_fills, 0) as removing_fills,
        n.exposure_micro_shares + coalesce(k.exposure_micro_shares, 0) as exposure_micro_shares,
        greatest(n.peak_exposure_shares, coalesce(k.peak_exposure_shares, n.peak_exposure_shares))
            as peak_exposure_shares
    from new_days as n
    left join kept as k
        on k.wallet_key = n.wallet_key and k.market_key = n.market_key
    where not exists (
        select 1 from recounted_markets as r where r.wallet_key = n.wallet_key and r.market_key = n.market_key
    )

),

markets as (

    select * from added
    union all
    select
        r.wallet_key,
        r.market_key,
        coalesce(m.trade_days, 0) as trade_days,
        m.first_trade_date,
        m.last_trade_date,
        coalesce(m.fills, 0) as fills,
        m.volume_usd,
        m.added_shares,
        m.removed_shares,
        m.adding_fills,
        m.removing_fills,
        m.exposure_micro_shares,
        m.peak_exposure_shares
    from recounted_markets as r
    left join recounted as m
        on m.wallet_key = r.wallet_key and m.market_key = r.market_key

)
{%- else -%}
markets as (

    {{ wallet_market_sums(ref('int_wallet_market_days'),
                   "d.trade_date <= cast('" ~ var('as_of_date') ~ "' as date)" if var('as_of_date', none) else none) }}

)
{%- endif %}

select
    wallet_key,
    market_key,
    trade_days,
    first_trade_date,
    last_trade_date,
    fills,
    volume_usd,
    added_shares,
    removed_shares,
    adding_fills,
    removing_fills,
    exposure_micro_shares,
    cast(exposure_micro_shares as {{ double_type() }}) / 1000000 as exposure_shares,
    peak_exposure_shares
from markets
