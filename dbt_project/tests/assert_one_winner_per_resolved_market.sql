-- A resolved market has exactly one winning token, or is void with none.
select
    condition_id,
    sum(case when is_winner then 1 else 0 end) as winners,
    max(case when is_void then 1 else 0 end) as is_void
from {{ ref('stg_polymarket__market_resolutions') }}
group by condition_id
having not (
    (max(case when is_void then 1 else 0 end) = 1 and sum(case when is_winner then 1 else 0 end) = 0)
    or (max(case when is_void then 1 else 0 end) = 0 and sum(case when is_winner then 1 else 0 end) = 1)
)
