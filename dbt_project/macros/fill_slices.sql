{#-
    A whole build of the models that sort every fill (the position walk, market-days, bets
    placed) in slices of wallets, on DuckDB, when the fills outnumber what its memory limit
    sorts at once.

    Their window functions and groups hold the whole stream they read. Past DuckDB's
    memory limit every pass spills to disk, and the build grows faster than the history:
    on 37M fills each of these models took 5.6 to 8.6 times as long as on 9.25M, which
    fits in memory. Their rows depend on one wallet's fills only, so the wallets can be
    built a slice at a time: the model's own statement builds slice 0 (wallet_key % n = 0)
    and its post-hook (insert_other_fill_slices) inserts slices 1 to n − 1, each one
    statement that fits in memory.

    n = ceil(fills / POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS), the fills counted from the
    partition window's first day on (every fill without a window): a first build, a full
    refresh or a backfill from the first day runs in slices; a day's window is one slice,
    one statement. n is 1 on another warehouse, and when the variable is unset or 0 (dbt
    run by hand). The orchestrator sets the variable from the memory limit
    (polycopy.warehouse.duckdb_limits). The fills are counted in the raw table (cheap),
    so a slice holds approximately that many. In a window, a slice reads the model's own
    rows before the window only, which the other slices do not write.
    Use: `where {{ in_fill_slice('wallet_key') }}` on the fills the model reads, and
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

{#- The predicate that keeps the wallets of slice 0 of fill_slices() (`true` when there is
    one slice). insert_other_fill_slices finds it by its comment in the compiled SQL and
    writes each other slice's number in its place. -#}
{% macro in_fill_slice(wallet_key_column) -%}
    {%- set slices = fill_slices() -%}
    {%- if slices > 1 -%}
        {{ fill_slice_predicate(wallet_key_column, slices, 0) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{% macro fill_slice_predicate(wallet_key_column, slices, slice) -%}
    ({{ wallet_key_column }} % {{ slices }}) = {{ slice }} /* fill slice */
{%- endmacro %}

{#- The post-hook of a sliced model: its compiled statement again for slices 1 to n − 1,
    each inserted by its own statement (run here, so the hook itself renders empty). -#}
{% macro insert_other_fill_slices() -%}
    {%- set slices = fill_slices() -%}
    {%- if slices > 1 -%}
        {%- set first = '= 0 /* fill slice */' -%}
        {%- if first not in sql -%}
            {{ exceptions.raise_compiler_error(this.identifier ~ ": built in " ~ slices
                                                ~ " slices of wallets, but its SQL has no in_fill_slice() predicate") }}
        {%- endif -%}
        {%- set quoted = [] -%}
        {%- for column in adapter.get_columns_in_relation(this) -%}
            {%- do quoted.append(adapter.quote(column.name)) -%}
        {%- endfor -%}
        {%- set columns = quoted | join(', ') -%}
        {%- for slice in range(1, slices) -%}
            {%- do log(this.identifier ~ ": slice " ~ (slice + 1) ~ " of " ~ slices ~ " of the wallets", info=true) -%}
            {%- do run_query("insert into " ~ this ~ " (" ~ columns ~ ") select " ~ columns ~ " from ("
                             ~ sql.replace(first, '= ' ~ slice ~ ' /* fill slice */') ~ ") as slice") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
