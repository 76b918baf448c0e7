{#-
    A whole build of the position walk (int_trade_outcomes) in slices of wallets, on
    DuckDB, when the fills outnumber what its memory limit sorts at once.

    The walk's ten window passes each hold the whole stream of fills they read. Past
    DuckDB's memory limit every pass spills to disk, and the walk grows faster than the
    history: 402 s on 37.3M fills against 47 to 54 s on 9.25M, which fits. Its rows depend
    on one wallet's fills only, so the wallets can be walked a slice at a time: the model's
    own statement builds slice 0 (wallet_key % n = 0) and its post-hook
    (insert_other_fill_slices) inserts slices 1 to n − 1, each one statement whose passes
    fit in memory (262 s in four slices on the same 37.3M history, the same evening).
    Each slice still scans every fill to find its own (the fills are stored by day, not
    by wallet), so slicing pays only where the sorts outweigh that scan: market-days,
    which reads the fills twice and wide, took 313 s in four slices against 237 s in one,
    and bets placed 150 s against 134 s, so they are not sliced.

    n = ceil(fills / POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS), the fills counted from the
    partition window's first day on (every fill without a window): a first build, a full
    refresh or a backfill from the first day runs in slices; a day's window is one slice,
    one statement. n is 1 on another warehouse, and when the variable is unset or 0 (dbt
    run by hand). The orchestrator sets the variable from the memory limit
    (polycopy.warehouse.duckdb_limits). The fills are counted in the raw table (cheap),
    so a slice holds approximately that many. In a window, a slice reads the model's own
    rows before the window only, which the other slices do not write.
    Use: `{% set slices = fill_slices() %}` once, `where {{ in_fill_slice('wallet_key',
    slices) }}` on every read of the fills the model walks, and
    window_incremental(..., sliced_by_wallet=true) for the post-hook.
-#}
{% macro fill_slices() -%}
    {#- The source is named whatever `execute` is, so that dbt records it at parse time. -#}
    {%- set raw_trades = source('polymarket', 'trades') -%}
    {%- if not execute or target.type != 'duckdb' -%}
        {{- return(1) -}}
    {%- endif -%}
    {%- set per_slice = env_var('POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS', '0') | trim -%}
    {%- if not per_slice.isdigit() -%}
        {{- exceptions.raise_compiler_error("POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS=" ~ per_slice
                                            ~ " is not a whole number of fills (0: no slices)") -}}
    {%- endif -%}
    {%- set per_slice = per_slice | int -%}
    {%- if per_slice == 0 -%}
        {{- return(1) -}}
    {%- endif -%}
    {%- set counted -%}
        select count(*) from {{ raw_trades }}
        {%- if in_partition_window() %} where partition_day >= cast('{{ partition_start() }}' as date){% endif %}
    {%- endset -%}
    {%- set fills = run_query(counted).columns[0].values()[0] | int -%}
    {{- return([1, (fills + per_slice - 1) // per_slice] | max) -}}
{%- endmacro %}

{#- The predicate that keeps the wallets of slice 0 of `slices` (fill_slices(), counted
    once per model so that every read of the fills is cut the same way; `true` for one
    slice). Its comment names the number of slices, so insert_other_fill_slices reads it
    from the statement that ran instead of counting the fills again (which a load in
    between could change). -#}
{% macro in_fill_slice(wallet_key_column, slices) -%}
    {%- if slices > 1 -%}
        ({{ wallet_key_column }} % {{ slices }}) {{ fill_slice_marker(0, slices) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{% macro fill_slice_marker(slice, slices) -%}
    {{- return('= ' ~ slice ~ ' /* fill slice of ' ~ slices ~ ' */') -}}
{%- endmacro %}

{#- The post-hook of a sliced model: its compiled statement (`sql`, slice 0) again for
    slices 1 to n − 1, each inserted by its own statement (run here, so the hook itself
    renders empty); nothing when the statement was not sliced. -#}
{% macro insert_other_fill_slices() -%}
    {%- set found = modules.re.search('= 0 /\\* fill slice of ([0-9]+) \\*/', sql) if execute and sql else none -%}
    {%- set slices = found.group(1) | int if found else 1 -%}
    {%- if slices > 1 -%}
        {%- set quoted = [] -%}
        {%- for column in adapter.get_columns_in_relation(this) -%}
            {%- do quoted.append(adapter.quote(column.name)) -%}
        {%- endfor -%}
        {%- set columns = quoted | join(', ') -%}
        {%- for slice in range(1, slices) -%}
            {%- do log(this.identifier ~ ": slice " ~ (slice + 1) ~ " of " ~ slices ~ " of the wallets", info=true) -%}
            {%- do run_query("insert into " ~ this ~ " (" ~ columns ~ ") select " ~ columns ~ " from ("
                             ~ sql.replace(fill_slice_marker(0, slices), fill_slice_marker(slice, slices))
                             ~ ") as slice") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
