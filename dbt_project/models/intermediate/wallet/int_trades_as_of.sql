{#-
    Fills up to the as-of day (`as_of_date` var, default the last day with activity), with
    their market's category and how many days before the as-of day each was made. Inlined
    into the per-wallet models that read it.
-#}
{{ config(materialized='ephemeral') }}

with

as_of as (

    {{ as_of_date_select() }}

),

markets as (

    select condition_id, category from {{ ref('int_market_categories') }}

)

select
    t.*,
    coalesce(m.category, 'unknown') as category,
    {{ dbt.datediff('t.trade_date', 'a.as_of_date', 'day') }} as days_ago
from {{ ref('stg_polymarket__trades') }} as t
cross join as_of as a
left join markets as m
    on m.condition_id = t.condition_id
where t.trade_date <= a.as_of_date
