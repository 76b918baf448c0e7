{#- Unix seconds (UTC) to a timezone-less UTC timestamp, on every backend. -#}
{% macro unix_to_timestamp(column) -%}
    {{ return(adapter.dispatch('unix_to_timestamp', 'polycopy')(column)) }}
{%- endmacro %}

{% macro default__unix_to_timestamp(column) -%}
    (to_timestamp({{ column }}) at time zone 'UTC')
{%- endmacro %}

{% macro duckdb__unix_to_timestamp(column) -%}
    make_timestamp(cast({{ column }} as bigint) * 1000000)
{%- endmacro %}

{#- Spark: seconds to a timestamp without time zone (the session time zone is UTC). -#}
{% macro spark__unix_to_timestamp(column) -%}
    cast(timestamp_seconds(cast({{ column }} as bigint)) as timestamp_ntz)
{%- endmacro %}
