{#-
    The positions (wallet_key × token_key, with the token's market_key) a partition window touches: a fill, split, merge
    or conversion in it, or its market resolved in it. Found once per run, for the models
    that rebuild the positions a window touches (int_positions, int_wallet_realizations,
    fct_wallet_daily_pnl, through touched_cte()). Each run replaces the rows of the run
    before it; a build without a window touches everything and leaves it empty. Built
    from the window's vars even when the table is new, so that the first window run after
    an upgrade finds the positions its window touches.
    Every row carries its window, and one row without keys marks the window even when it
    touched nothing: a model that reads the table in a run whose window it was not built
    for (a retry of part of a run, a hand-picked selection) stops with an error rather
    than rebuild another window's positions (delete_touched).
-#}

{%- set touched_config = window_incremental(['wallet_key', 'token_key']) -%}
{%- if touched_config.materialized == 'incremental' -%}
    {%- do touched_config.update({'pre_hook': "{% if is_incremental() %}delete from {{ this }}{% endif %}"}) -%}
{%- endif -%}
{%- if touched_config.get('incremental_strategy') == 'delete+insert' -%}
    {%- do touched_config.update({'incremental_strategy': 'append'}) -%}
{%- endif %}
{{ config(**touched_config) }}

-- depends_on: {{ ref('stg_polymarket__trades') }}
-- depends_on: {{ ref('stg_polymarket__activity') }}
-- depends_on: {{ ref('stg_polymarket__market_resolutions') }}
{% if partition_start() is not none -%}
with

touched as (

    select t.wallet_key, t.token_key, t.market_key
    from {{ ref('stg_polymarket__trades') }} as t
    where t.trade_date >= cast('{{ partition_start() }}' as date)
      and t.trade_date < cast('{{ partition_end() }}' as date)
    union
    -- Every earlier fill of a token resolved in the window: joined on the id, the keys
    -- computed for the fills that match only.
    select {{ hex_id_key('t.wallet_address') }}, {{ token_id_key('t.token_id') }}, {{ hex_id_key('t.condition_id') }}
    from {{ ref('stg_polymarket__trades') }} as t
    inner join {{ ref('stg_polymarket__market_resolutions') }} as r
        on r.token_id = t.token_id
    where r.resolution_date >= cast('{{ partition_start() }}' as date)
      and r.resolution_date < cast('{{ partition_end() }}' as date)
    union
    -- Splits and merges move every outcome token of their market, a conversion its token:
    -- in the window, or in a market resolved in the window.
    select a.wallet_key, k.token_key, k.market_key
    from {{ ref('stg_polymarket__activity') }} as a
    inner join {{ ref('stg_polymarket__market_tokens') }} as k
        on k.condition_id = a.condition_id
        and (a.activity_type in ('SPLIT', 'MERGE') or k.token_id = a.token_id)
    left join {{ ref('stg_polymarket__market_resolutions') }} as r
        on r.token_id = k.token_id
    where a.activity_type in ('SPLIT', 'MERGE', 'CONVERSION')
      and ((a.activity_date >= cast('{{ partition_start() }}' as date)
            and a.activity_date < cast('{{ partition_end() }}' as date))
           or (r.resolution_date >= cast('{{ partition_start() }}' as date)
               and r.resolution_date < cast('{{ partition_end() }}' as date)))

),

marked as (

    select wallet_key, token_key, market_key from touched
    union all
    select cast(null as bigint) as wallet_key, cast(null as bigint) as token_key, cast(null as bigint) as market_key

)

select
    wallet_key,
    token_key,
    market_key,
    cast('{{ partition_start() }}' as date) as window_start,
    cast('{{ partition_end() }}' as date) as window_end
from marked
{%- else -%}
select
    cast(null as bigint) as wallet_key,
    cast(null as bigint) as token_key,
    cast(null as bigint) as market_key,
    cast(null as date) as window_start,
    cast(null as date) as window_end
from {{ ref('stg_polymarket__market_tokens') }}
where 1 = 0
{%- endif %}
