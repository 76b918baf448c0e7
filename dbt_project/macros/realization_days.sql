{#-
    The days of int_wallet_realizations that a partition window may have changed before its
    own first day, for a model of realizations by day (`relation`: rows per wallet and day
    with `realizations` and, in `capital_column`, the capital they realized) that rebuilds
    whole days, or checks them wallet by wallet (fct_wallet_daily_pnl): a select of
    `realized_date`.
    - the settlement days of the positions the window touched (int_wallet_realizations
      rewrote their settlements: a late fill changes the shares a resolution settled);
    - every day whose realizations no longer add up to what `relation` counted for it: a
      settlement gone or moved to another day (a re-ingested resolution), or rows lost
      from a run that stopped part way. Counts are compared exactly; capital within a
      millionth (sums in another order differ in the last bits).
    The window's own days and later ones are the caller's (every SELL from its first
    second on was rewritten).
-#}
{% macro realization_days_to_rebuild(relation, capital_column='capital_usd') -%}
    select z.realized_date
    from {{ ref('int_wallet_realizations') }} as z
    where z.realization_kind = 'settlement'
      and {{ touched_in_window_exists(ref('int_touched_positions'), 'z', 'positions') }}
    union
    select coalesce(r.realized_date, k.activity_date) as realized_date
    from (
        select realized_date, count(*) as realizations, sum(capital_usd) as capital_usd
        from {{ ref('int_wallet_realizations') }}
        group by realized_date
    ) as r
    full outer join (
        select activity_date, sum(realizations) as realizations, sum({{ capital_column }}) as capital_usd
        from {{ relation }}
        group by activity_date
    ) as k
        on k.activity_date = r.realized_date
    where r.realizations is null
       or k.realizations is null
       or r.realizations <> k.realizations
       or abs(r.capital_usd - k.capital_usd) > 1e-6 * greatest(1, abs(r.capital_usd))
{%- endmacro %}
