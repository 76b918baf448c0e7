{#-
    Incremental builds run over a window of daily partitions: partition_start (inclusive)
    and partition_end (exclusive), ISO dates, given as `--vars` or, as the orchestrator
    does, in the environment (POLYCOPY_PARTITION_START, POLYCOPY_PARTITION_END). Without
    them an incremental run recomputes everything, as a full refresh would.

    Why the environment: dbt throws its partial parse away whenever `--vars` change, so a
    window passed as vars re-parses the whole project on every daily run (about 3 s). The
    environment is read only where SQL is rendered to run (`execute`), never while
    parsing, so the parse a run starts from stays valid from one day to the next.
-#}
{% macro partition_bounds() -%}
    {%- set start = var('partition_start', none) -%}
    {%- set end = var('partition_end', none) -%}
    {%- set source = 'vars' -%}
    {%- if start is none and end is none and execute -%}
        {%- set start = env_var('POLYCOPY_PARTITION_START', '') or none -%}
        {%- set end = env_var('POLYCOPY_PARTITION_END', '') or none -%}
        {%- set source = 'POLYCOPY_PARTITION_START/_END' -%}
    {%- endif -%}
    {%- if start is none and end is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set iso = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' -%}
    {%- if start is none or end is none
           or not modules.re.match(iso, start | string) or not modules.re.match(iso, end | string)
           or (start | string) >= (end | string) -%}
        {{- exceptions.raise_compiler_error(
            "partition window (" ~ source ~ "): partition_start and partition_end must both be ISO dates "
            ~ "(YYYY-MM-DD) with start before end, got " ~ start ~ " and " ~ end) -}}
    {%- endif -%}
    {{- return([start | string, end | string]) -}}
{%- endmacro %}

{#- The window's first day (ISO), or none without a window. -#}
{% macro partition_start() -%}
    {%- set bounds = partition_bounds() -%}
    {{- return(bounds[0] if bounds else none) -}}
{%- endmacro %}

{#- The day after the window's last (ISO), or none without a window. -#}
{% macro partition_end() -%}
    {%- set bounds = partition_bounds() -%}
    {{- return(bounds[1] if bounds else none) -}}
{%- endmacro %}

{% macro in_partition_window() -%}
    {{ return(is_incremental() and partition_start() is not none) }}
{%- endmacro %}

{#- The `touched` CTE (followed by a comma) when building a window: the positions it
    touches, found once per run by int_touched_positions (a model that reads it declares
    `-- depends_on: {{ ref('int_touched_positions') }}`); nothing otherwise. -#}
{% macro touched_cte() -%}
    {%- if in_partition_window() -%}
touched as (

    select wallet_key, token_key from {{ ref('int_touched_positions') }}
    where {{ touched_in_window() }} and wallet_key is not null

),
    {%- endif -%}
{%- endmacro %}

{#- Keep only rows of positions the window touches (needs touched_cte()); nothing otherwise. -#}
{% macro where_touched(alias) -%}
    {%- if in_partition_window() -%}
    where exists (
        select 1 from touched as x
        where x.wallet_key = {{ alias }}.wallet_key and x.token_key = {{ alias }}.token_key
    )
    {%- endif -%}
{%- endmacro %}

{#- Keep only the rows of the days a window rewrites, wallet by wallet (needs a
    `wallet_starts` CTE: wallet_key, and the first day rewritten, null for all of them);
    nothing otherwise. -#}
{% macro where_rewritten_day(alias, day_column) -%}
    {%- if in_partition_window() -%}
    inner join wallet_starts as w
        on w.wallet_key = {{ alias }}.wallet_key
    where w.start_date is null or {{ alias }}.{{ day_column }} >= w.start_date
    {%- endif -%}
{%- endmacro %}

{#- Keep only rows of wallets the window touches (needs touched_cte()); nothing otherwise. -#}
{% macro where_touched_wallet(alias) -%}
    {%- if in_partition_window() -%}
    where exists (select 1 from touched as x where x.wallet_key = {{ alias }}.wallet_key)
    {%- endif -%}
{%- endmacro %}

{#-
    The `where` of a data test on daily-partitioned rows, written in the test's config as
    `where: "partition_days:<day column>"` (test configs cannot call project macros, so
    get_where_subquery below reads it): within a partition window only the window's days
    are tested (the days before it were tested when they were built); on a full build,
    everything.
-#}
{% macro in_partition_days(day_column) -%}
    {%- if partition_start() is not none -%}
    {{ day_column }} >= cast('{{ partition_start() }}' as date) and {{ day_column }} < cast('{{ partition_end() }}' as date)
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}

{#- The same for rows timed in Unix seconds (`where: "partition_seconds:<column>"`): only
    the rows from the window's first second on, which a window run rewrites. -#}
{% macro in_partition_seconds(seconds_column) -%}
    {%- if partition_start() is not none -%}
    {{ seconds_column }} >= {{ window_start_unix() }}
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}

{#- dbt's get_where_subquery, with the window forms of `where`: `partition_days:<column>`,
    `partition_seconds:<column>`, `touched_positions`, `touched_markets` and `touched_wallets` (only the rows a
    window run rewrote are tested in it: the others were tested when they were written; on
    a build without a window, every row). Any other `where` is dbt's. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- if where in ('touched_positions', 'touched_markets', 'touched_wallets') or where.startswith('partition_') -%}
        {%- if partition_start() is none -%}
            {%- do return(relation) -%}
        {%- endif -%}
        {%- set where = window_rows_predicate(where, 't') -%}
    {%- endif -%}
    {%- if not where -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- set filtered -%}
        (select * from {{ relation }} as t where {{ where }}) dbt_subquery
    {%- endset -%}
    {%- do return(filtered) -%}
{%- endmacro %}

{#- Within a partition window, the rows of `alias` that the window form `form` of a test's
    `where` names (see get_where_subquery), as a predicate. -#}
{% macro window_rows_predicate(form, alias) -%}
    {%- if form.startswith('touched_') -%}
        {#- Rendered when the test runs, where a ref() dbt did not see while parsing is
            refused: int_touched_positions is found in the project's graph. -#}
        {{- return(touched_in_window_exists(model_relation('int_touched_positions'), alias, form.split('_', 1)[1])) -}}
    {%- elif form.startswith('partition_days:') -%}
        {{- return(in_partition_days(alias ~ '.' ~ form.split(':', 1)[1].strip())) -}}
    {%- else -%}
        {{- return(in_partition_seconds(alias ~ '.' ~ form.split(':', 1)[1].strip())) -}}
    {%- endif -%}
{%- endmacro %}

{#- The window's first second: partition_start at 00:00 UTC, in Unix seconds. -#}
{% macro window_start_unix() -%}
    {{ return((modules.datetime.date.fromisoformat(partition_start())
               - modules.datetime.date(1970, 1, 1)).days * 86400) }}
{%- endmacro %}

{#- The ISO day `days` days before the window's first day (partition_start). -#}
{% macro days_before_window(days) -%}
    {{ return((modules.datetime.date.fromisoformat(partition_start())
               - modules.datetime.timedelta(days=days)).isoformat()) }}
{%- endmacro %}

{#- The rows of int_touched_positions built for this run's window. -#}
{% macro touched_in_window() -%}
    window_start = cast('{{ partition_start() }}' as date)
    and window_end = cast('{{ partition_end() }}' as date)
{%- endmacro %}

{#- `exists (…)`: the row `alias` is of a position ('positions'), a wallet's market
    ('markets': a market of a position) or a wallet ('wallets') that this run's window
    touched, by the rows of `touched` (int_touched_positions) built for it. -#}
{% macro touched_in_window_exists(touched, alias, scope) -%}
    exists (
        select 1 from {{ touched }} as x
        where {{ touched_in_window() }} and x.wallet_key = {{ alias }}.wallet_key
        {%- if scope == 'positions' %} and x.token_key = {{ alias }}.token_key{% endif %}
        {%- if scope == 'markets' %} and x.market_key = {{ alias }}.market_key{% endif %}
    )
{%- endmacro %}

{#- The relation of the project's model `name`, found in the graph: for SQL rendered where a
    ref() that dbt did not see while parsing is refused (a test's filter), or where a ref()
    would close a cycle (a model that reads what a later model of the run left last time). -#}
{% macro model_relation(name) -%}
    {%- set node = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
                   | selectattr('name', 'equalto', name) | first -%}
    {{- return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) -}}
{%- endmacro %}
