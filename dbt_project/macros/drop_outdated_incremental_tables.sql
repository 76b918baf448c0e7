{#-
    Run at the start of every command (on-run-start). An incremental model's table that
    lacks a column of its unique key, of its partition day or of its documented columns
    (a column added to an incremental model is documented in its .yml) was built by an
    older layout of the model: a window run would fail on it (or merge rows of two
    layouts). Such a table is dropped, so that this run builds the model whole, from the
    history in the warehouse. Only models the command selects are looked at.
-#}
{% macro drop_outdated_incremental_tables() %}
    {%- set drops = [] -%}
    {%- if execute -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.materialized == 'incremental'
               and node.unique_id in selected_resources -%}
        {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- if relation is not none -%}
            {%- set keys = node.config.unique_key -%}
            {%- set keys = ([keys] if keys is string else keys)
                           + ([node.config.partition_day_column] if node.config.partition_day_column else [])
                           + (node.columns.keys() | list) -%}
            {%- set have = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
            {%- set missing = keys | map('lower') | reject('in', have) | list -%}
            {%- if missing -%}
                {{ log("dropping " ~ relation ~ ": built by an older layout (no " ~ missing | join(", ")
                       ~ "); this run builds it whole", info=True) }}
                {#- Dropped by the hook's statement; the cache forgets the table now. -#}
                {%- do drops.append(get_drop_sql(relation)) -%}
                {%- do adapter.cache_dropped(relation) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- endif -%}
    {#- Reading the columns opened a transaction on the hook's connection: commit the drops in it. -#}
    {{ return((drops + ['commit']) | join(";\n") if drops else '') }}
{% endmacro %}
