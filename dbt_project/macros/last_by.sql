{#- Within a group: the value of `column` on the row with the largest `order_by` (one
    expression, or a list compared in order, each largest first), NULL included; with
    `where`, among the rows that meet it (NULL when none does). An aggregate: one pass of
    a hash aggregation where a window would sort. -#}
{% macro last_by(column, order_by, where=none) -%}
    {%- set order_list = [order_by] if order_by is string else order_by -%}
    {{ return(adapter.dispatch('last_by', 'polycopy')(column, order_list, where)) }}
{%- endmacro %}

{#- DuckDB's arg_max skips rows whose value is NULL; arg_max_null does not. A list is
    compared as a row (a struct, field by field). -#}
{% macro duckdb__last_by(column, order_list, where) -%}
    arg_max_null({{ column }}, {% if order_list | length == 1 %}{{ order_list[0] }}{% else %}({{ order_list | join(', ') }}){% endif %})
    {%- if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{% macro spark__last_by(column, order_list, where) -%}
    max_by({{ column }}, {% if order_list | length == 1 %}{{ order_list[0] }}{% else %}struct({{ order_list | join(', ') }}){% endif %})
    {%- if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{% macro default__last_by(column, order_list, where) -%}
    (array_agg({{ column }} order by {{ order_list | join(' desc, ') }} desc)
    {%- if where %} filter (where {{ where }}){% endif %})[1]
{%- endmacro %}
