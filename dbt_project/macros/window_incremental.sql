{#-
    The config of the models a daily partition window rebuilds in place (see
    incremental_window.sql): delete+insert on the positions or days the window touches.
    Spark has no delete+insert: on Delta Lake tables (POLYCOPY_SPARK_FILE_FORMAT=delta, as
    Databricks has them) the same keys are merged; on plain Parquet, which cannot update
    rows, the models are rebuilt whole, the way a Spark cluster recomputes a large history.
    Use as {{ config(**window_incremental(['wallet_address', 'token_id'])) }}.

    Models whose rows are days (replace_days_of: the day column) have the window's days
    deleted first, so that a day re-ingested with fewer rows leaves none behind
    (days_before: also that many days before the window, which the model rebuilds too;
    through_last_day: also every day after it, for models whose rows carry the history
    before their day, so that a backfilled day reaches the days after it; also_days: a
    Jinja expression rendering a select of other days the model rebuilds, such as
    realization_days_to_rebuild(this)).
    Those that rebuild every day from the first one deleted (through_last_day) leave
    nothing of their own behind the delete, so their new rows are appended: delete+insert
    would join every row of a large history on the unique key again for nothing. Models
    of timed rows (replace_seconds_of: a Unix-seconds column) have every row from the
    window's first second on deleted first and append the same way. Models that recompute
    every row of the positions a window touches (replace_touched='positions': rows keyed
    by wallet_key and token_key), or of the wallets (replace_touched='wallets'), have those
    rows deleted first (by integer keys, from int_touched_positions) and append too.
    touched_rows narrows that to the touched positions' rows that match it; with
    replace_seconds_of as well, the rows from the window's first second on that match
    seconds_rows are replaced too, whatever their position (int_wallet_realizations: the
    settlements of the touched positions and every SELL from the window on, the SELLs
    the walk rewrote; the earlier SELLs are left as they are).
    A model that reads its own earlier rows (reads_own_rows: int_positions resumes each
    touched position from its row) keeps them until its new rows are made: delete+insert
    on the unique key, with a pre-hook that only checks the window.
    A model whose rows each depend on one wallet's fills, and that sorts every fill
    (sliced_by_wallet: the position walk, market-days, bets placed), is built whole in
    slices of wallets on a large DuckDB history: see fill_slices.sql (its SQL keeps
    `in_fill_slice('wallet_address', slices)` on the fills it reads).
    The unique key stays the row's own key (data tests and drop_outdated_incremental_tables
    read it; delete+insert joins on it).
-#}
{% macro window_incremental(unique_key, replace_days_of=none, days_before=0, through_last_day=false,
                            also_days=none, replace_seconds_of=none, replace_touched=none, touched_rows=none,
                            seconds_rows=none, reads_own_rows=false, sliced_by_wallet=false) -%}
    {%- set config = window_incremental_config(unique_key, replace_days_of, days_before, through_last_day, also_days,
                                                replace_seconds_of, replace_touched, touched_rows, seconds_rows,
                                                reads_own_rows) -%}
    {%- if sliced_by_wallet and target.type == 'duckdb' -%}
        {%- do config.update({'post_hook': '{{ insert_other_fill_slices() }}'}) -%}
    {%- endif -%}
    {{ return(config) }}
{%- endmacro %}

{% macro window_incremental_config(unique_key, replace_days_of, days_before, through_last_day, also_days,
                                   replace_seconds_of, replace_touched, touched_rows, seconds_rows,
                                   reads_own_rows) -%}
    {%- if target.type != 'spark' -%}
        {#- A column the model no longer has is dropped from an older table (a column it
            gained makes drop_outdated_incremental_tables rebuild the table whole). -#}
        {%- set config = {'materialized': 'incremental', 'incremental_strategy': 'delete+insert',
                          'unique_key': unique_key, 'on_schema_change': 'sync_all_columns'} -%}
    {%- elif env_var('POLYCOPY_SPARK_FILE_FORMAT', 'parquet') == 'delta' -%}
        {%- set config = {'materialized': 'incremental', 'incremental_strategy': 'merge', 'unique_key': unique_key,
                          'file_format': 'delta'} -%}
    {%- else -%}
        {{ return({'materialized': 'table', 'file_format': 'parquet'}) }}
    {%- endif -%}
    {%- if replace_days_of -%}
        {#- partition_day_column is read by drop_outdated_incremental_tables. -#}
        {%- do config.update({
                'partition_day_column': replace_days_of,
                'pre_hook': "{{ delete_partition_days('" ~ replace_days_of ~ "', " ~ days_before ~ ", "
                            ~ through_last_day ~ ", " ~ (also_days if also_days and target.type != 'spark' else 'none')
                            ~ ") }}"}) -%}
    {%- elif reads_own_rows and target.type != 'spark' -%}
        {%- do config.update({'pre_hook': "{{ keep_rows_until_insert(" ~ (replace_touched is not none) ~ ") }}"}) -%}
        {{ return(config) }}
    {%- elif replace_touched and target.type != 'spark' -%}
        {#- (Open-source Delta Lake allows no subquery in a DELETE: Spark merges by key.) -#}
        {%- do config.update({'pre_hook': "{{ delete_touched(" ~ jinja_literal(replace_touched) ~ ", " ~ jinja_literal(touched_rows)
                                          ~ ", " ~ jinja_literal(replace_seconds_of) ~ ", " ~ jinja_literal(seconds_rows)
                                          ~ ") }}"}) -%}
    {%- elif replace_seconds_of and not replace_touched -%}
        {%- do config.update({'pre_hook': "{{ delete_partition_seconds('" ~ replace_seconds_of ~ "') }}"}) -%}
    {%- endif -%}
    {%- if (through_last_day or replace_seconds_of or replace_touched)
           and config.incremental_strategy == 'delete+insert' -%}
        {%- do config.update({'incremental_strategy': 'append'}) -%}
    {%- endif -%}
    {{ return(config) }}
{%- endmacro %}

{#- The pre-hook of window_incremental(replace_days_of=...): within a partition window,
    delete the window's days (and `days_before` days before them), and the days `also_days`
    selects (SQL; not on Spark, where Delta Lake allows no subquery in a DELETE); on an
    incremental run without a window, which recomputes everything, every row; nothing on a
    first build. -#}
{% macro delete_partition_days(day_column, days_before=0, through_last_day=false, also_days=none) -%}
    {%- if in_partition_window() -%}
    delete from {{ this }}
    where ({{ day_column }} >= cast('{{ days_before_window(days_before) }}' as date)
    {%- if not through_last_day %}
      and {{ day_column }} < cast('{{ partition_end() }}' as date)
    {%- endif -%})
    {%- if also_days %}
       or {{ day_column }} in ({{ also_days }})
    {%- endif -%}
    {%- elif is_incremental() -%}
    delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- The pre-hook of window_incremental(replace_seconds_of=...): within a partition window,
    delete every row from the window's first second (UTC) on; on an incremental run without
    a window, every row; nothing on a first build. -#}
{% macro delete_partition_seconds(seconds_column) -%}
    {%- if in_partition_window() -%}
    delete from {{ this }}
    where {{ seconds_column }} >= {{ window_start_unix() }}
    {%- elif is_incremental() -%}
    delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- The pre-hook of window_incremental(replace_touched=...): within a partition window,
    delete the rows of the positions ('positions') or wallets ('wallets') it touches (those
    that match `touched_rows`, if given), and with `seconds_of` every row from the window's
    first second on that matches `seconds_rows`; on an incremental run without a window,
    every row; nothing on a first build. -#}
{% macro delete_touched(scope, touched_rows=none, seconds_of=none, seconds_rows=none) -%}
    {%- if in_partition_window() -%}
    {%- set touched = ref('int_touched_positions') -%}
    {%- do assert_touched_built_for_window() %}
    delete from {{ this }} as target
    where ({{ touched_in_window_exists(touched, 'target', scope) }}
           {%- if touched_rows %} and ({{ touched_rows }}){% endif %})
    {%- if seconds_of %}
       or (target.{{ seconds_of }} >= {{ window_start_unix() }}{% if seconds_rows %} and ({{ seconds_rows }}){% endif %})
    {%- endif %}
    {%- elif is_incremental() -%}
    delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- `value` written as a Jinja literal, for a hook string that calls a macro with it. -#}
{% macro jinja_literal(value) -%}
    {{- return('none' if value is none else tojson(value)) -}}
{%- endmacro %}

{#- The pre-hook of window_incremental(reads_own_rows=true): within a partition window,
    nothing but, for a model of the touched positions or wallets (`check_touched`), the
    check that int_touched_positions was built for it (the rows are replaced by
    delete+insert on the unique key, after the model has read them); on an incremental run
    without a window, which recomputes everything, delete every row; nothing on a first
    build. -#}
{% macro keep_rows_until_insert(check_touched) -%}
    {%- if in_partition_window() -%}
    {%- if check_touched %}{% do assert_touched_built_for_window() %}{% endif -%}
    {%- elif is_incremental() -%}
    delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- Stop the model when int_touched_positions holds another window's positions than this
    run's (a retry of part of a run, a hand-picked selection): it would rebuild the wrong
    positions. -#}
{% macro assert_touched_built_for_window() -%}
    {%- if execute -%}
        {%- set marked = run_query("select count(*) from " ~ ref('int_touched_positions') ~ " where " ~ touched_in_window()) -%}
        {%- if marked.columns[0].values()[0] == 0 -%}
            {{ exceptions.raise_compiler_error(
                this.identifier ~ ": int_touched_positions was not built for the window " ~ partition_start()
                ~ " to " ~ partition_end() ~ " (it holds another run's positions); build it in the same run") }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
