{#-
    `name as {{ not_materialized() }} (...)`: a CTE read more than once that the engine
    should compute at each reader rather than hold whole. DuckDB materializes such a CTE
    (every column of every row, spilled to disk when it exceeds memory: tens of GB for a
    projection of every fill at 40M fills); reading its source again is cheaper. Other
    engines keep their own choice.
-#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'polycopy')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}{%- endmacro %}

{% macro duckdb__not_materialized() -%}not materialized{%- endmacro %}
