{#- Macros of int_positions: a position's sums over its fills, and the same sums of two
    stretches of its fills added (the fills before a partition window, kept from the run
    before, and the window's). -#}

{#- The sums of the fills of one position (rows of int_trade_outcomes grouped by
    wallet_key, token_key), as a select list. -#}
{% macro position_sums() -%}
        wallet_key,
        token_key,
        min(market_key) as market_key,
        count(*) as fills,
        sum(case when side = 'BUY' then shares else 0 end) as bought_shares,
        sum(case when side = 'BUY' then notional_usd else 0 end) as bought_usd,
        sum(case when side = 'SELL' then shares else 0 end) as sold_shares,
        sum(case when side = 'SELL' then notional_usd else 0 end) as sold_usd,
        sum(coalesce(realized_pnl_usd, 0)) as sells_realized_pnl_usd,
        sum(case when is_orphan_sell then 1 else 0 end) as orphan_sells,
        sum(unknown_cost_shares) as unknown_cost_shares,
        sum(case when unknown_cost_shares > 0 then 1 else 0 end) as unknown_cost_fills,
        sum(unknown_cost_proceeds_usd) as unknown_cost_proceeds_usd,
        sum(case when side = 'IN' then shares else 0 end) as converted_in_shares,
        min(traded_at_unix) as opened_at_unix,
        max(traded_at_unix) as last_fill_at_unix,
        -- What the last fill left (in the same pass: a second read of the fills costs a scan).
        {{ last_by('shares_after', 'fill_seq') }} as open_shares,
        {{ last_by('cost_after', 'fill_seq') }} as open_cost_usd,
        {{ last_by('unknown_cost_shares_held_after', 'fill_seq') }} as unknown_cost_shares_held
{%- endmacro %}

{#- The columns position_sums() makes, read from the rows of `alias`. -#}
{% macro position_sum_columns(alias) -%}
        {{ alias }}.wallet_key,
        {{ alias }}.token_key,
        {%- for column in position_sum_names() %}
        {{ alias }}.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
{%- endmacro %}

{% macro position_sum_names() -%}
    {{ return(['market_key', 'fills', 'bought_shares', 'bought_usd', 'sold_shares', 'sold_usd',
               'sells_realized_pnl_usd', 'orphan_sells', 'unknown_cost_shares', 'unknown_cost_fills',
               'unknown_cost_proceeds_usd', 'converted_in_shares', 'opened_at_unix', 'last_fill_at_unix',
               'open_shares', 'open_cost_usd', 'unknown_cost_shares_held']) }}
{%- endmacro %}

{#- position_sums() of a position's earlier fills (rows of `earlier`) and of its later ones
    (rows of `later`, joined by a full outer join on the keys): a sum is both added (the
    one alone where the other has no rows, or only NULLs), the first fill the earlier's,
    and what the last fill left the later's where it has fills. -#}
{% macro position_sums_added(earlier, later) -%}
        coalesce({{ later }}.wallet_key, {{ earlier }}.wallet_key) as wallet_key,
        coalesce({{ later }}.token_key, {{ earlier }}.token_key) as token_key,
        {%- for column in position_sum_names() %}
        {%- if column in ('market_key', 'opened_at_unix') %}
        case
            when {{ later }}.{{ column }} is null then {{ earlier }}.{{ column }}
            when {{ earlier }}.{{ column }} is null then {{ later }}.{{ column }}
            when {{ earlier }}.{{ column }} < {{ later }}.{{ column }} then {{ earlier }}.{{ column }}
            else {{ later }}.{{ column }}
        end as {{ column }}{{ ',' if not loop.last }}
        {%- elif column in ('last_fill_at_unix', 'open_shares', 'open_cost_usd', 'unknown_cost_shares_held') %}
        case when {{ later }}.wallet_key is null then {{ earlier }}.{{ column }} else {{ later }}.{{ column }} end
            as {{ column }}{{ ',' if not loop.last }}
        {%- else %}
        case
            when {{ later }}.{{ column }} is null then {{ earlier }}.{{ column }}
            when {{ earlier }}.{{ column }} is null then {{ later }}.{{ column }}
            else {{ earlier }}.{{ column }} + {{ later }}.{{ column }}
        end as {{ column }}{{ ',' if not loop.last }}
        {%- endif %}
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
