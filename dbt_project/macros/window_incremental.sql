{#-
    The config of the models a daily partition window rebuilds in place (see
    incremental_window.sql): delete+insert on the positions or days the window touches.
    Spark has no delete+insert: on Delta Lake tables (POLYCOPY_SPARK_FILE_FORMAT=delta, as
    Databricks has them) the same keys are merged; on plain Parquet, which cannot update
    rows, the models are rebuilt whole, the way a Spark cluster recomputes a large history.
    Use as {{ config(**window_incremental(['wallet_address', 'token_id'])) }}.
-#}
{% macro window_incremental(unique_key) -%}
    {%- if target.type != 'spark' -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert', 'unique_key': unique_key}) }}
    {%- elif env_var('POLYCOPY_SPARK_FILE_FORMAT', 'parquet') == 'delta' -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'merge', 'unique_key': unique_key,
                   'file_format': 'delta'}) }}
    {%- else -%}
        {{ return({'materialized': 'table', 'file_format': 'parquet'}) }}
    {%- endif -%}
{%- endmacro %}
