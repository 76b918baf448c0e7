{#- Models land in the schema they name (staging, intermediate, marts), not in
    "<target schema>_<name>": the same relation names on every backend. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
