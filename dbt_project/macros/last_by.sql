{#- Within a group: the value of `column` on the row with the largest `order_column`, NULL
    included (an aggregate: one pass of a hash aggregation where a window would sort). -#}
{% macro last_by(column, order_column) -%}
    {{ return(adapter.dispatch('last_by', 'polycopy')(column, order_column)) }}
{%- endmacro %}

{#- DuckDB's arg_max skips rows whose value is NULL; arg_max_null does not. -#}
{% macro duckdb__last_by(column, order_column) -%}
    arg_max_null({{ column }}, {{ order_column }})
{%- endmacro %}

{% macro spark__last_by(column, order_column) -%}
    max_by({{ column }}, {{ order_column }})
{%- endmacro %}

{% macro default__last_by(column, order_column) -%}
    (array_agg({{ column }} order by {{ order_column }} desc))[1]
{%- endmacro %}
