{#- Macros of the position walk (int_trade_outcomes). -#}

{#- Width, in nats of log decay, of the bands int_trade_outcomes sums a position's cost in:
    exp() of at most twice this stays well inside a double (e^709 overflows). -#}
{% macro cost_decay_band() -%}
    300
{%- endmacro %}

{#- The window of a position's fills up to this one (int_trade_outcomes' running sums),
    by the walk's integer position id. -#}
{% macro position_so_far(alias) -%}
    partition by {{ alias }}.position_id order by {{ alias }}.fill_seq
    rows between unbounded preceding and current row
{%- endmacro %}
