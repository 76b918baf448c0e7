{#-
    The time-decay weight of something `days_ago` days before the as-of day:
    2^(−days ago / decay_half_life_days) (seed 002 §1.2).
-#}
{% macro time_decay(days_ago) -%}
    exp(-0.6931471805599453 * cast({{ days_ago }} as {{ double_type() }}) / {{ var('decay_half_life_days') }})
{%- endmacro %}
