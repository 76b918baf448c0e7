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

{#- In a window run of the walk: int_positions as the run before left it, when it holds every
    fill the walk holds (the walk's rows number the positions' fills summed). A position's
    row is then its state after its last fill (fills = its last fill_seq), and the walk
    resumes it from there instead of reading all its earlier fills again. Returns
    {'relation': int_positions, 'rows_from_window': positions whose row already counts fills
    from the window's first second on (the window run again, a backfill), which resume
    from their earlier fills}; none when the two disagree (a first window run after an
    upgrade, or after a run that stopped between the walk and int_positions): then every
    walked position resumes from its earlier fills. Read when the walk is compiled, before
    its pre-hook deletes the window's fills. -#}
{% macro walk_resume_from_positions() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set positions = model_relation('int_positions') -%}
    {%- if load_relation(positions) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set counts = run_query(
            "select (select count(*) from " ~ this ~ "), (select coalesce(sum(fills), 0) from " ~ positions
            ~ "), (select count(*) from " ~ positions ~ " where last_fill_at_unix >= " ~ window_start_unix() ~ ")"
        ).rows[0] -%}
    {%- if counts[0] != counts[1] -%}
        {{ log(this.identifier ~ ": int_positions counts " ~ counts[1] ~ " fills and the walk " ~ counts[0]
               ~ ": every walked position resumes from its earlier fills", info=True) }}
        {{ return(none) }}
    {%- endif -%}
    {{ return({'relation': positions, 'rows_from_window': counts[2]}) }}
{%- endmacro %}
