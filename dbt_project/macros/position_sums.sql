{#- Macros of int_positions: a position's sums over its fills, and the same sums of two
    stretches of its fills added (the fills before a partition window, kept from the run
    before, and the window's). -#}

{#- What int_positions sums over a position's fills, each as [column, its aggregate over the
    rows of int_trade_outcomes grouped by wallet_key and token_key, how the sums of two
    stretches of the fills make the whole]: 'add' (sums and counts), 'least' (the smaller,
    of either), 'last' (what the later stretch's last fill left, where it has fills). The
    one list the macros below render. -#}
{% macro position_sum_specs() -%}
    {{ return([
        ['market_key', 'min(market_key)', 'least'],
        ['fills', 'count(*)', 'add'],
        ['bought_shares', "sum(case when side = 'BUY' then shares else 0 end)", 'add'],
        ['bought_usd', "sum(case when side = 'BUY' then notional_usd else 0 end)", 'add'],
        ['sold_shares', "sum(case when side = 'SELL' then shares else 0 end)", 'add'],
        ['sold_usd', "sum(case when side = 'SELL' then notional_usd else 0 end)", 'add'],
        ['sells_realized_pnl_usd', 'sum(coalesce(realized_pnl_usd, 0))', 'add'],
        ['orphan_sells', 'sum(case when is_orphan_sell then 1 else 0 end)', 'add'],
        ['unknown_cost_shares', 'sum(unknown_cost_shares)', 'add'],
        ['unknown_cost_fills', 'sum(case when unknown_cost_shares > 0 then 1 else 0 end)', 'add'],
        ['unknown_cost_proceeds_usd', 'sum(unknown_cost_proceeds_usd)', 'add'],
        ['converted_in_shares', "sum(case when side = 'IN' then shares else 0 end)", 'add'],
        ['opened_at_unix', 'min(traded_at_unix)', 'least'],
        ['last_fill_at_unix', 'max(traded_at_unix)', 'last'],
        ['open_shares', last_by('shares_after', 'fill_seq'), 'last'],
        ['open_cost_usd', last_by('cost_after', 'fill_seq'), 'last'],
        ['unknown_cost_shares_held', last_by('unknown_cost_shares_held_after', 'fill_seq'), 'last'],
    ]) }}
{%- endmacro %}

{#- The sums of the fills of one position (rows of int_trade_outcomes grouped by wallet_key,
    token_key), as a select list. What the last fill left is read in the same pass: a second
    read of the fills costs a scan. -#}
{% macro position_sums() -%}
        wallet_key,
        token_key,
        {%- for column, aggregate, _ in position_sum_specs() %}
        {{ aggregate }} as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
{%- endmacro %}

{#- The columns position_sums() makes, read from the rows of `alias`. -#}
{% macro position_sum_columns(alias) -%}
        {{ alias }}.wallet_key,
        {{ alias }}.token_key,
        {%- for column, _, _ in position_sum_specs() %}
        {{ alias }}.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
{%- endmacro %}

{#- position_sums() of a position's earlier fills (rows of `earlier`) and of its later ones
    (rows of `later`, joined by a full outer join on the keys), made one: each column as its
    spec says, a NULL on one side (no rows there, or only NULLs) giving the other side's. -#}
{% macro position_sums_added(earlier, later) -%}
        coalesce({{ later }}.wallet_key, {{ earlier }}.wallet_key) as wallet_key,
        coalesce({{ later }}.token_key, {{ earlier }}.token_key) as token_key,
        {%- for column, _, how in position_sum_specs() %}
        {%- set e = earlier ~ '.' ~ column %}
        {%- set l = later ~ '.' ~ column %}
        {%- if how == 'last' %}
        case when {{ later }}.wallet_key is null then {{ e }} else {{ l }} end as {{ column }}
        {%- else %}
        case
            when {{ l }} is null then {{ e }}
            when {{ e }} is null then {{ l }}
            {%- if how == 'least' %}
            when {{ e }} < {{ l }} then {{ e }}
            else {{ l }}
            {%- else %}
            else {{ e }} + {{ l }}
            {%- endif %}
        end as {{ column }}
        {%- endif %}{{ ',' if not loop.last }}
        {%- endfor %}
{%- endmacro %}

{#- In a window run of int_positions (compiled after the walk has rewritten the fills from
    the window's first second on): whether its own rows, as the run before left them, hold
    every earlier fill of the walk. They do when each row that ends before the window counts
    its fills, and each row that already counts fills from the window on (the window run
    again, a backfill) has fills in the window, and together they number the walk's fills
    before the window. A touched position then adds the window's fills to its own row
    instead of summing all its fills again. Returns {'rows_from_window': how many rows count
    fills from the window on (those sum their earlier fills)}, or none: every touched
    position sums all its fills (after a run that stopped between the walk and
    int_positions, or when rows are missing). -#}
{% macro positions_resume_from_own_rows() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set walk = ref('int_trade_outcomes') -%}
    {%- set window_start = window_start_unix() -%}
    {%- set counts = run_query(
        "with window_first as (select wallet_key, token_key, min(fill_seq) as first_seq from " ~ walk
        ~ " where traded_at_unix >= " ~ window_start ~ " group by wallet_key, token_key), "
        ~ "later as (select w.first_seq from " ~ this ~ " as p left join window_first as w"
        ~ " on w.wallet_key = p.wallet_key and w.token_key = p.token_key where p.last_fill_at_unix >= " ~ window_start ~ ") "
        ~ "select (select count(*) from " ~ walk ~ " where traded_at_unix < " ~ window_start ~ "), "
        ~ "(select coalesce(sum(fills), 0) from " ~ this ~ " where last_fill_at_unix < " ~ window_start ~ ") "
        ~ "+ (select coalesce(sum(first_seq - 1), 0) from later), "
        ~ "(select count(*) from later), (select count(*) from later where first_seq is null)"
    ).rows[0] -%}
    {%- if counts[0] != counts[1] or counts[3] != 0 -%}
        {{ log(this.identifier ~ ": its rows count " ~ counts[1] ~ " fills before the window and the walk "
               ~ counts[0] ~ ": every touched position sums all its fills", info=True) }}
        {{ return(none) }}
    {%- endif -%}
    {{ return({'rows_from_window': counts[2]}) }}
{%- endmacro %}
