{#-
    A whole build of the models that sort every fill by wallet (the position walk,
    market-days, bets placed) in slices of wallets, on DuckDB, when the fills outnumber
    what its memory limit sorts at once.

    Each of these models holds the whole stream of fills in its window passes and
    groupings. Past DuckDB's memory limit every pass spills to disk, and the model grows
    faster than the history: the walk took 402 s on 37.3M fills against 47 to 54 s on
    9.25M, which fits. Their rows depend on one wallet's fills only, so the wallets can
    be taken a slice at a time: the model's own statement builds slice 0 and its
    post-hook (insert_other_fill_slices) inserts slices 1 to n − 1, each one statement
    whose sorts fit in memory.

    A slice is a range of wallet addresses (by their first four hex digits, which are
    uniform on Polymarket's proxy wallets), not a hash of them: the warehouse stores each
    day's fills ordered by wallet (DuckDBWarehouse's partition writer), so the zone maps
    of a day's row groups let a slice read only its part of each day. With slices taken
    by hash every slice read every fill, and only the walk gained (262 s in four slices
    against 402 s in one; market-days took 313 s against 237 s, bets placed 150 s
    against 134 s). Fills stored by earlier releases in arrival order are stored again in
    this order by warehouse migration 0005.

    n = ceil(fills / POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS), the fills counted from the
    partition window's first day on (every fill without a window): a first build, a full
    refresh or a backfill from the first day runs in slices; a day's window is one slice,
    one statement. n is 1 on another warehouse, and when the variable is unset or 0 (dbt
    run by hand). The orchestrator sets the variable from the memory limit
    (polycopy.warehouse.duckdb_limits). The fills are counted in the raw table (cheap),
    so a slice holds approximately that many. In a window, a slice reads the model's own
    rows before the window only, which the other slices do not write.
    Use: `{% set slices = fill_slices() %}` once, `where {{ in_fill_slice('wallet_address',
    slices) }}` on every read of the fills the model groups (the column as stored, so
    that the range reaches the table scan), and window_incremental(..., sliced_by_wallet=true)
    for the post-hook.
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
    slice). Its comment names the number of slices and the column, so that
    insert_other_fill_slices reads them from the statement that ran instead of counting
    the fills again (which a load in between could change). -#}
{% macro in_fill_slice(wallet_address_column, slices) -%}
    {%- if slices > 1 -%}
        {{ fill_slice_predicate(wallet_address_column, 0, slices) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Slice `slice` of `slices`: the addresses from the slice's first four-hex-digit prefix
    (inclusive) to the next slice's (exclusive); the first slice has no lower bound and
    the last no upper one, so that the slices cover every string once, whatever its case
    or shape (an address that is not hex only makes the slices less even). -#}
{% macro fill_slice_predicate(column, slice, slices) -%}
    {%- set bounds = [] -%}
    {%- if slice > 0 -%}
        {%- do bounds.append(column ~ " >= '0x" ~ ('%04x' | format(slice * 65536 // slices)) ~ "'") -%}
    {%- endif -%}
    {%- if slice < slices - 1 -%}
        {%- do bounds.append(column ~ " < '0x" ~ ('%04x' | format((slice + 1) * 65536 // slices)) ~ "'") -%}
    {%- endif -%}
    {{- return('/* fill slice ' ~ slice ~ ' of ' ~ slices ~ ' on ' ~ column ~ ' */ (' ~ bounds | join(' and ') ~ ')') -}}
{%- endmacro %}

{#- The post-hook of a sliced model: its compiled statement (`sql`, slice 0) again for
    slices 1 to n − 1, each inserted by its own statement (run here, so the hook itself
    renders empty); nothing when the statement was not sliced. -#}
{% macro insert_other_fill_slices() -%}
    {%- set found = modules.re.findall('/\\* fill slice 0 of ([0-9]+) on ([^*]+?) \\*/', sql) if execute and sql else [] -%}
    {%- set slices = found[0][0] | int if found else 1 -%}
    {%- if slices > 1 -%}
        {%- set quoted = [] -%}
        {%- for column in adapter.get_columns_in_relation(this) -%}
            {%- do quoted.append(adapter.quote(column.name)) -%}
        {%- endfor -%}
        {%- set columns = quoted | join(', ') -%}
        {%- set sliced_columns = [] -%}
        {%- for _, column in found -%}
            {%- if column not in sliced_columns -%}{%- do sliced_columns.append(column) -%}{%- endif -%}
        {%- endfor -%}
        {%- for slice in range(1, slices) -%}
            {%- set statement = namespace(sql=sql) -%}
            {%- for column in sliced_columns -%}
                {%- set statement.sql = statement.sql.replace(fill_slice_predicate(column, 0, slices),
                                                              fill_slice_predicate(column, slice, slices)) -%}
            {%- endfor -%}
            {%- do log(this.identifier ~ ": slice " ~ (slice + 1) ~ " of " ~ slices ~ " of the wallets", info=true) -%}
            {%- do run_query("insert into " ~ this ~ " (" ~ columns ~ ") select " ~ columns ~ " from ("
                             ~ statement.sql ~ ") as slice") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
