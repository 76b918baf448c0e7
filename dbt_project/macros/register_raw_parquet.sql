{#-
    Spark reads the raw tables where ingestion landed them as Parquet (a data lake's
    landing zone: one folder per table under `path`, e.g. exported from the warehouse with
    polycopy.warehouse.parquet_export). Registers each as an external table raw.<name>:
        dbt run-operation register_raw_parquet --args '{path: /data/raw}' --target spark
-#}
{% macro register_raw_parquet(path) %}
    {% do run_query('create schema if not exists raw') %}
    {% for table in ['trades', 'markets', 'market_tokens', 'market_tags', 'market_resolutions', 'activity',
                     'rejects'] %}
        {% do run_query('drop table if exists raw.' ~ table) %}
        {% do run_query("create table raw." ~ table ~ " using parquet location '" ~ path ~ "/" ~ table ~ "'") %}
    {% endfor %}
{% endmacro %}
