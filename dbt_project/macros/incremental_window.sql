{#-
    Incremental builds run over a window of daily partitions, passed as vars by the
    orchestrator: partition_start (inclusive) and partition_end (exclusive), ISO dates.
    Without them an incremental run recomputes everything, as a full refresh would.
-#}
{% macro in_partition_window() -%}
    {{ return(is_incremental() and var('partition_start', none) is not none) }}
{%- endmacro %}

{#- Positions a window touches, by their integer keys (wallet_key × token_key): a fill,
    split, merge or conversion in it, or its market resolved in it. -#}
{% macro touched_positions() -%}
    select t.wallet_key, t.token_key
    from {{ ref('stg_polymarket__trades') }} as t
    where t.trade_date >= cast('{{ var("partition_start") }}' as date)
      and t.trade_date < cast('{{ var("partition_end") }}' as date)
    union
    -- Every earlier fill of a token resolved in the window: joined on the id, the keys
    -- computed for the fills that match only.
    select {{ hex_id_key('t.wallet_address') }}, {{ token_id_key('t.token_id') }}
    from {{ ref('stg_polymarket__trades') }} as t
    inner join {{ ref('stg_polymarket__market_resolutions') }} as r
        on r.token_id = t.token_id
    where r.resolution_date >= cast('{{ var("partition_start") }}' as date)
      and r.resolution_date < cast('{{ var("partition_end") }}' as date)
    union
    -- Splits and merges move every outcome token of their market, a conversion its token:
    -- in the window, or in a market resolved in the window.
    select a.wallet_key, k.token_key
    from {{ ref('stg_polymarket__activity') }} as a
    inner join {{ ref('stg_polymarket__market_tokens') }} as k
        on k.condition_id = a.condition_id
        and (a.activity_type in ('SPLIT', 'MERGE') or k.token_id = a.token_id)
    left join {{ ref('stg_polymarket__market_resolutions') }} as r
        on r.token_id = k.token_id
    where a.activity_type in ('SPLIT', 'MERGE', 'CONVERSION')
      and ((a.activity_date >= cast('{{ var("partition_start") }}' as date)
            and a.activity_date < cast('{{ var("partition_end") }}' as date))
           or (r.resolution_date >= cast('{{ var("partition_start") }}' as date)
               and r.resolution_date < cast('{{ var("partition_end") }}' as date)))
{%- endmacro %}

{#- The `touched` CTE (followed by a comma) when building a window; nothing otherwise. -#}
{% macro touched_cte() -%}
    {%- if in_partition_window() -%}
touched as (

    {{ touched_positions() }}

),
    {%- endif -%}
{%- endmacro %}

{#- Keep only rows of positions the window touches (needs touched_cte()); nothing otherwise. -#}
{% macro where_touched(alias) -%}
    {%- if in_partition_window() -%}
    where exists (
        select 1 from touched as x
        where x.wallet_key = {{ alias }}.wallet_key and x.token_key = {{ alias }}.token_key
    )
    {%- endif -%}
{%- endmacro %}

{#- Keep only rows of wallets the window touches (needs touched_cte()); nothing otherwise. -#}
{% macro where_touched_wallet(alias) -%}
    {%- if in_partition_window() -%}
    where exists (select 1 from touched as x where x.wallet_key = {{ alias }}.wallet_key)
    {%- endif -%}
{%- endmacro %}

{#-
    The `where` of a data test on daily-partitioned rows, written in the test's config as
    `where: "partition_days:<day column>"` (test configs cannot call project macros, so
    get_where_subquery below reads it): within a partition window only the window's days
    are tested (the days before it were tested when they were built); on a full build,
    everything.
-#}
{% macro in_partition_days(day_column) -%}
    {%- if var('partition_start', none) is not none -%}
    {{ day_column }} >= cast('{{ var("partition_start") }}' as date) and {{ day_column }} < cast('{{ var("partition_end") }}' as date)
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}

{#- The same for rows timed in Unix seconds (`where: "partition_seconds:<column>"`): only
    the rows from the window's first second on, which a window run rewrites. -#}
{% macro in_partition_seconds(seconds_column) -%}
    {%- if var('partition_start', none) is not none -%}
    {{ seconds_column }} >= {{ window_start_unix() }}
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}

{#- dbt's get_where_subquery, with the `partition_days:<column>` and
    `partition_seconds:<column>` forms of `where`. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and where.startswith('partition_days:') -%}
        {%- set where = in_partition_days(where.split(':', 1)[1].strip()) -%}
    {%- elif where and where.startswith('partition_seconds:') -%}
        {%- set where = in_partition_seconds(where.split(':', 1)[1].strip()) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The window's first second: partition_start at 00:00 UTC, in Unix seconds. -#}
{% macro window_start_unix() -%}
    {{ return((modules.datetime.date.fromisoformat(var('partition_start'))
               - modules.datetime.date(1970, 1, 1)).days * 86400) }}
{%- endmacro %}

{#- The ISO day `days` days before the window's first day (partition_start). -#}
{% macro days_before_window(days) -%}
    {{ return((modules.datetime.date.fromisoformat(var('partition_start'))
               - modules.datetime.timedelta(days=days)).isoformat()) }}
{%- endmacro %}
