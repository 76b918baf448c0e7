{#-
    Each wallet's daily returns (fct_wallet_daily_pnl) up to the as-of day, with how many
    days before it each day is. Inlined into the return-ratio and consistency models.
-#}
{{ config(materialized='ephemeral') }}

with

as_of as (

    {{ as_of_date_select() }}

)

select
    d.wallet_key,
    d.activity_date,
    d.daily_return,
    {{ dbt.datediff('d.activity_date', 'a.as_of_date', 'day') }} as days_ago
from {{ ref('fct_wallet_daily_pnl') }} as d
cross join as_of as a
where d.activity_date <= a.as_of_date
