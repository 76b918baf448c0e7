{#-
    Integer keys of the long ids: wallets (42 characters), markets (66) and tokens (up to
    78 decimal digits). The wallet models join, group and partition by these keys instead
    of the ids: a 64-bit integer hashes and compares in one step where a long string does
    not (2 to 3 times faster on DuckDB at tens of millions of rows). A key is bits of the id
    itself (the last 15 hex digits, 60 bits; of a token id, the last 18 decimal digits), so
    it is the same on every engine and in every version, and the models that store an id
    store its key beside it. Ids are random, so two sharing a key is a chance of about
    n² / 2^61 (1e-8 for 200k wallets); int_id_keys keeps every id with its key, and its
    unique test fails the build if that ever happens.
-#}
{% macro hex_id_key(column) -%}
    {{ return(adapter.dispatch('hex_id_key', 'polycopy')(column)) }}
{%- endmacro %}

{% macro default__hex_id_key(column) -%}
    cast(('0x' || right({{ column }}, 15)) as bigint)
{%- endmacro %}

{% macro postgres__hex_id_key(column) -%}
    cast(cast(('x' || lpad(right({{ column }}, 15), 16, '0')) as bit(64)) as bigint)
{%- endmacro %}

{% macro spark__hex_id_key(column) -%}
    cast(conv(right({{ column }}, 15), 16, 10) as bigint)
{%- endmacro %}

{% macro token_id_key(column) -%}
    cast(right({{ column }}, 18) as bigint)
{%- endmacro %}

{#- The three keys of a row that names a wallet, a market and a token. -#}
{% macro id_key_columns(wallet='wallet_address', market='condition_id', token='token_id') -%}
    {{ hex_id_key(wallet) }} as wallet_key,
    {{ hex_id_key(market) }} as market_key,
    {{ token_id_key(token) }} as token_key
{%- endmacro %}

{#- The ids of one kind ('wallet', 'market' or 'token') by their keys (int_id_keys), as a
    CTE named wallet_ids (wallet_key, wallet_address), market_ids (market_key, condition_id)
    or token_ids (token_key, token_id): `{{ ids_cte('wallet') }}` in a `with` list. The
    wallet models group and filter by the integer keys alone and join the ids to their
    result rows: read or carried through a grouping, a 42- to 78-character id costs about
    as much as the aggregates themselves. -#}
{% macro ids_cte(kind) -%}
    {%- set id_column = {'wallet': 'wallet_address', 'market': 'condition_id', 'token': 'token_id'}[kind] -%}
{{ kind }}_ids as (

    select id_key as {{ kind }}_key, id as {{ id_column }}
    from {{ ref('int_id_keys') }}
    where id_kind = '{{ kind }}'

),
{%- endmacro %}

{#- Left joins of the ids_cte() of each kind to the rows of `alias` by their keys, as
    ids_wallet, ids_market and ids_token (wallet_address, condition_id, token_id). -#}
{% macro join_ids(alias, kinds=('wallet', 'market', 'token')) -%}
    {%- for kind in kinds %}
    left join {{ kind }}_ids as ids_{{ kind }}
        on ids_{{ kind }}.{{ kind }}_key = {{ alias }}.{{ kind }}_key
    {%- endfor %}
{%- endmacro %}
