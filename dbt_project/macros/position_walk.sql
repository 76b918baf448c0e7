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

{#- The walk's id of a position (`p`: one row per wallet_key and token_key), used only
    within one build: the window passes partition by it instead of by the two keys.
    A row number where a single sort of the positions is cheap; on Spark, where a window
    without a partition runs in one task, the two keys joined into one string. -#}
{% macro walk_position_id() -%}
    {{ return(adapter.dispatch('walk_position_id')()) }}
{%- endmacro %}

{% macro default__walk_position_id() -%}
    row_number() over (order by p.wallet_key, p.token_key)
{%- endmacro %}

{% macro spark__walk_position_id() -%}
    concat(p.wallet_key, ':', p.token_key)
{%- endmacro %}
