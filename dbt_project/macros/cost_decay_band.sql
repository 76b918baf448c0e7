{#- Width, in nats of log decay, of the bands int_trade_outcomes sums a position's cost in:
    exp() of at most twice this stays well inside a double (e^709 overflows). -#}
{% macro cost_decay_band() -%}
    300
{%- endmacro %}
