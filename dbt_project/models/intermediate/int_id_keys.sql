{#-
    Every wallet, market and token id on record, with the integer key the wallet models
    join and group by (id_keys.sql). Two ids sharing a key would be merged by those models:
    the unique test on (id_kind, id_key) fails the build if it ever happens.
    Incremental: a run adds the ids it has not seen, from its window's fills and activity
    (every fill and activity without a window) and from the market tokens and resolutions,
    which are few.
-#}

{%- set key_config = window_incremental(['id_kind', 'id']) -%}
{#- Appended, never deleted: an id's key never changes, so a new row is a new id. -#}
{%- if key_config.get('incremental_strategy') == 'delete+insert' -%}
    {%- do key_config.update({'incremental_strategy': 'append'}) -%}
{%- endif %}
{{ config(**key_config) }}

with

-- The ids of the window's fills and activity (of every one without a window).
records as {{ not_materialized() }} (

    select wallet_address, condition_id, token_id
    from {{ ref('stg_polymarket__trades') }}
    {%- if in_partition_window() %}
    where trade_date >= cast('{{ partition_start() }}' as date)
    {%- endif %}
    union all
    select wallet_address, condition_id, token_id
    from {{ ref('stg_polymarket__activity') }}
    {%- if in_partition_window() %}
    where activity_date >= cast('{{ partition_start() }}' as date)
    {%- endif %}

),

ids as (

    select 'wallet' as id_kind, wallet_address as id from records
    union
    select 'market' as id_kind, condition_id as id from records where condition_id is not null
    union
    select 'market' as id_kind, condition_id as id from {{ ref('stg_polymarket__market_tokens') }}
    union
    select 'token' as id_kind, token_id as id from records where token_id is not null
    union
    select 'token' as id_kind, token_id as id from {{ ref('stg_polymarket__market_tokens') }}
    union
    select 'token' as id_kind, token_id as id from {{ ref('stg_polymarket__market_resolutions') }}

),

new_ids as (

    select i.id_kind, i.id
    from ids as i
    {%- if is_incremental() %}
    where not exists (select 1 from {{ this }} as k where k.id_kind = i.id_kind and k.id = i.id)
    {%- endif %}

)

select
    id_kind,
    id,
    case when id_kind = 'token' then {{ token_id_key('id') }} else {{ hex_id_key('id') }} end as id_key
from new_ids
