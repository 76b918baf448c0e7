{#-
    The as-of day of the wallet marts: the `as_of_date` var when set, else the last
    day with wallet activity. Used as `with as_of as ({{ as_of_date_select() }})`.
    The var is for a warehouse that holds what ingestion had by that day (as the scoring
    evaluation loads it): fills are filtered by day, but positions, resolutions and close
    times are read as they stand, so later data in the warehouse would show through.
-#}
{% macro as_of_date_select() -%}
    {% if var('as_of_date', none) -%}
    select cast('{{ var("as_of_date") }}' as date) as as_of_date
    {%- else -%}
    select max(activity_date) as as_of_date from {{ ref('fct_wallet_daily_pnl') }}
    {%- endif %}
{%- endmacro %}

{#- Every row of `relation` dated on or before the as-of day (needs the `as_of` CTE above):
    the body of a CTE, `days as ({{ rows_as_of(ref('...'), 'trade_date') }})`. -#}
{% macro rows_as_of(relation, day_column) -%}
    select r.*
    from {{ relation }} as r
    cross join as_of as a
    where r.{{ day_column }} <= a.as_of_date
{%- endmacro %}
