{#- Type names that differ between engines: PostgreSQL and DuckDB say "double precision" and
    "varchar"; Spark SQL says "double" and "string". -#}
{% macro double_type() -%}
    {{ return(adapter.dispatch('double_type', 'polycopy')()) }}
{%- endmacro %}

{% macro default__double_type() -%}double precision{%- endmacro %}

{% macro spark__double_type() -%}double{%- endmacro %}

{% macro string_type() -%}
    {{ return(adapter.dispatch('string_type', 'polycopy')()) }}
{%- endmacro %}

{% macro default__string_type() -%}varchar{%- endmacro %}

{% macro spark__string_type() -%}string{%- endmacro %}
