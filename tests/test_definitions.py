"""The code locations load and expose what users see in the UI."""

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import dagster as dg

from polycopy_dagster import definitions, execution
from polycopy_dagster.defs.automation import REBUILD_BATCH
from tests.conftest import REPO_ROOT


def test_data_location():
    defs = definitions.defs
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw_markets", "raw_market_tokens", "raw_trades", "market_resolutions", "ingestion_rejects",
            "staging/stg_polymarket__trades", "staging/stg_polymarket__market_resolutions"} <= keys
    # Lineage: dbt staging reads the raw assets.
    parents = graph.get(dg.AssetKey(["staging", "stg_polymarket__trades"])).parent_keys
    assert dg.AssetKey("raw_trades") in parents
    checks = {c.name: c for c in graph.asset_check_keys}
    assert {"raw_trades_unique_keys", "raw_trades_price_range", "raw_trades_required_fields",
            "raw_trades_reject_rate", "market_resolutions_coverage", "market_resolutions_single_winner",
            "unique_stg_polymarket__trades_trade_key"} <= set(checks)
    blocking = {s.key.name for a in defs.assets if isinstance(a, dg.AssetsDefinition)
                for s in a.check_specs if s.blocking}
    blocking |= {s.key.name for c in defs.asset_checks for s in c.check_specs if s.blocking}
    assert {"raw_trades_unique_keys", "raw_trades_price_range", "market_resolutions_single_winner"} <= blocking
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {"ingest_history", "backfill_market_resolutions", "refresh_markets"} <= jobs
    assert graph.get(dg.AssetKey("raw_trades")).partitions_def is not None


def test_execution_location_is_light():
    defs = execution.defs
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"copy_trade", "reconcile_orders"}
    assert defs.resolve_sensor_def("followed_wallets_sensor").job_name == "copy_trade"
    # Its run workers must not pay for dbt or pandas.
    code = "import sys, polycopy_dagster.execution; print(sorted(m for m in ('dbt', 'pandas', 'duckdb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_every_asset_is_owned_tagged_and_every_check_described():
    for defs in (definitions.defs, execution.defs):
        graph = defs.resolve_asset_graph()
        for key in graph.get_all_asset_keys():
            node = graph.get(key)
            if not node.is_materializable:
                continue  # the other location's asset, named as an upstream
            assert node.owners, key
            assert node.tags.get("domain") in {"ingestion", "dbt", "scoring", "evaluation", "trading"}, key
        for check_key in graph.asset_check_keys:
            spec = graph.get_check_spec(check_key)
            assert spec.description and len(spec.description) > 10, check_key


def test_dbt_tests_are_described_in_words():
    from polycopy_dagster.defs.dbt_models import describe_dbt_test

    def node(name, **kwargs):
        return {"test_metadata": {"name": name, "kwargs": kwargs}, "config": {"severity": "ERROR"}}

    assert describe_dbt_test(node("not_null", column_name="wallet_address")) == (
        "`wallet_address` is never null. Blocking: a failure stops downstream assets.")
    assert describe_dbt_test(node("accepted_values", column_name="side", values=["BUY", "SELL"])).startswith(
        "`side` is one of: BUY, SELL.")
    assert describe_dbt_test(node("accepted_range", column_name="share", min_value=0, max_value=1)).startswith(
        "`share` is within [0, 1].")
    assert describe_dbt_test(node("relationships", column_name="token_id", to="ref('stg_polymarket__market_tokens')",
                                  field="token_id")).startswith(
        "every `token_id` exists as `token_id` in `stg_polymarket__market_tokens`.")
    warn = {**node("unique_combination", columns=["wallet_address", "token_id"]), "config": {"severity": "warn"}}
    assert describe_dbt_test(warn) == "each (wallet_address, token_id) appears once. Warns only."
    # A singular test says what it asserts in its SQL's leading comment; a YAML description wins.
    singular = {"raw_code": "-- A resolved market has one winner.\nselect 1", "config": {"severity": "error"}}
    assert describe_dbt_test(singular).startswith("A resolved market has one winner.")
    assert describe_dbt_test({**singular, "description": "Own words."}).startswith("Own words.")


def test_one_switch_turns_every_schedule_and_sensor_on():
    code = ("import warnings; warnings.filterwarnings('ignore'); import polycopy_dagster.definitions as d, "
            "polycopy_dagster.execution as e\n"
            "for defs in (d.defs, e.defs):\n"
            "    for x in list(defs.schedules) + list(defs.sensors): print(x.name, x.default_status.value)")
    states = {}
    for switch in ("off", "on"):
        env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("POLYCOPY_")}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True,
                             env={**env, "POLYCOPY_AUTOMATION": switch}).stdout
        states[switch] = dict(line.split() for line in out.splitlines())
    names = {"refresh_markets_schedule", "hourly_ingest_schedule", "polycopy_automation", "followed_wallets_sensor",
             "risk_monitor_schedule", "reconcile_orders_schedule", "undecided_signals_sweeper", "open_positions_sensor",
             "exits_after_copy_run", "settle_on_resolutions", "reconcile_with_venue_schedule"}
    assert set(states["off"]) == set(states["on"]) == names
    assert set(states["off"].values()) == {"STOPPED"} and set(states["on"].values()) == {"RUNNING"}


def test_the_hourly_ingest_completes_yesterday_in_the_first_hour_of_a_day():
    from polycopy_dagster.defs.ingestion import hourly_ingest_schedule

    def partitions(hour):
        ctx = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 5, hour, 10, tzinfo=timezone.utc))
        return [r.partition_key for r in hourly_ingest_schedule(ctx)]

    assert partitions(0) == ["2026-11-05", "2026-11-04"]
    assert partitions(13) == ["2026-11-05"]


def test_automation_conditions_cover_dbt_scoring_and_recent_resolutions():
    graph = definitions.defs.resolve_asset_graph()

    def label(key):
        cond = graph.get(dg.AssetKey(key)).automation_condition
        return cond.get_label() if cond else None

    assert label(["staging", "stg_polymarket__trades"]) == "last 7 days, after upstream updates"
    assert label(["intermediate", "int_trade_outcomes"]) == "last 7 days, after upstream updates"
    assert label(["marts", "wallet_metrics"]) == "after upstream updates"
    for key in ("wallet_scores", "whale_watchlist", "followed_watchlist", "ingestion_rejects"):
        assert label([key]) == "after upstream updates", key
    assert label(["market_resolutions"]) == "last 7 days, after upstream updates"
    # Ingestion itself runs on its schedules, and the evaluation only when asked.
    assert label(["raw_trades"]) is None and label(["scoring_evaluation"]) is None
    assert label(["backtest_results"]) is None and label(["backtest_report"]) is None
    assert graph.get(dg.AssetKey("whale_watchlist")).freshness_policy is not None


def test_an_asset_waits_while_an_ancestor_at_any_distance_is_still_to_run_and_only_for_its_partitions():
    from polycopy_dagster.defs.automation import AncestorStillToRun

    daily = dg.DailyPartitionsDefinition(start_date="2026-11-01")

    @dg.asset(partitions_def=daily)
    def raw(): ...

    @dg.asset(partitions_def=daily, deps=[raw])
    def model(): ...

    @dg.asset(deps=[model])
    def table(): ...

    @dg.asset(deps=[table], automation_condition=AncestorStillToRun())
    def score(): ...  # three steps below raw, through a table

    @dg.asset(partitions_def=daily, deps=[model], automation_condition=AncestorStillToRun())
    def daily_model(): ...

    @dg.asset(partitions_def=daily)
    def other_raw(): ...

    # A batch: requested together, so each waits for what is upstream of the other.
    batch = dg.AssetSelection.assets("batch_model", "batch_mate")

    @dg.asset(partitions_def=daily, deps=[model], automation_condition=AncestorStillToRun(batch))
    def batch_model(): ...

    @dg.asset(partitions_def=daily, deps=[other_raw], automation_condition=AncestorStillToRun(batch))
    def batch_mate(): ...

    defs = dg.Definitions(assets=[raw, model, table, score, daily_model, other_raw, batch_model, batch_mate])
    instance = dg.DagsterInstance.ephemeral()

    def pending(cursor):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        return result.cursor, {k: result.get_requested_partitions(dg.AssetKey(k))
                               for k in ("score", "daily_model", "batch_model", "batch_mate")
                               if result.get_num_requested(dg.AssetKey(k))}

    def start(key: str, day: str) -> dg.DagsterRun:  # a run not yet past its first step
        return instance.create_run_for_job(job_def=defs.resolve_implicit_global_asset_job_def(),
                                           asset_selection=frozenset([dg.AssetKey(key)]),
                                           tags={"dagster/partition": day})

    cursor, idle = pending(None)
    assert idle == {}
    run = start("raw", "2026-11-05")
    cursor, during = pending(cursor)
    assert during == {"score": {None}, "daily_model": {"2026-11-05"}, "batch_model": {"2026-11-05"},
                      "batch_mate": {"2026-11-05"}}, during
    instance.report_run_failed(run)
    cursor, after = pending(cursor)
    assert after == {}, after
    run = start("other_raw", "2026-11-07")
    cursor, during = pending(cursor)
    assert during == {"batch_model": {"2026-11-07"}, "batch_mate": {"2026-11-07"}}, during
    instance.report_run_failed(run)


def test_a_market_snapshot_refresh_re_derives_the_recent_resolution_days():
    """A market UMA-resolved days after it closed: when the snapshot refreshes, the last
    ``POLYCOPY_AUTOMATION_RECENT_DAYS`` days of resolutions are requested again, older ones not."""
    instance = dg.DagsterInstance.ephemeral()
    now = datetime.now(timezone.utc)
    days = [(now - timedelta(days=d)).date().isoformat() for d in range(12)]
    partitions = definitions.defs.resolve_asset_graph().get(dg.AssetKey("market_resolutions")).partitions_def
    days = [d for d in days if d in set(partitions.get_partition_keys(current_time=now))]
    assert len(days) >= 8, "the history starts too late for this test"
    for key in ("raw_markets", "raw_market_tokens", "raw_market_tags"):
        instance.report_runless_asset_event(dg.AssetMaterialization(key))
    for day in days:
        instance.report_runless_asset_event(dg.AssetMaterialization("market_resolutions", partition=day))
    selection = dg.AssetSelection.assets("market_resolutions")
    first = dg.evaluate_automation_conditions(definitions.defs, instance, asset_selection=selection)
    assert first.total_requested == 0  # every day exists and nothing changed
    instance.report_runless_asset_event(dg.AssetMaterialization("raw_markets"))  # the hourly snapshot
    after = dg.evaluate_automation_conditions(definitions.defs, instance, asset_selection=selection,
                                              cursor=first.cursor)
    requested = after.get_requested_partitions(dg.AssetKey("market_resolutions"))
    window = {(now - timedelta(days=d)).date().isoformat() for d in range(8)} & set(days)
    assert requested and requested <= window and days[-1] not in requested, requested
    assert now.date().isoformat() in requested


class _BuiltDeployment:
    """Every data asset and every day materialized once, and the automation conditions
    evaluated as the automation sensor does, one tick at a time."""

    def __init__(self):
        self.graph = definitions.defs.resolve_asset_graph()
        self.instance = dg.DagsterInstance.ephemeral()
        self.now = datetime.now(timezone.utc)
        self.today = self.now.date().isoformat()
        self.data = dg.AssetSelection.all() - dg.AssetSelection.groups("evaluation")  # run only when asked
        self.keys = [k for k in self.data.resolve(self.graph)
                     if self.graph.has(k) and self.graph.get(k).is_materializable]
        for key in self.keys:
            pdef = self.graph.get(key).partitions_def
            for p in (pdef.get_partition_keys(current_time=self.now) if pdef else [None]):
                self.land(key, p)
        self.cursor = None
        assert self.tick() == {}

    def land(self, key, partition=None):
        key = dg.AssetKey.from_user_string(key) if isinstance(key, str) else key
        self.instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))

    def tick(self) -> dict[str, set]:
        result = dg.evaluate_automation_conditions(definitions.defs, self.instance, asset_selection=self.data,
                                                   cursor=self.cursor)
        self.cursor = result.cursor
        return {k.to_user_string(): result.get_requested_partitions(k) for k in self.keys
                if result.get_num_requested(k)}

    def ingest_today(self) -> dict[str, set]:
        """A new ingest of today; the next tick's requests (the day's dbt models)."""
        for key in ("raw_trades", "market_resolutions", "raw_wallet_activity"):
            self.land(key, self.today)
        return self.tick()


def test_an_ingest_is_followed_by_a_days_dbt_run_then_tables_and_scores_together():
    """The conditions, evaluated as the automation sensor does: a new ingest of a day requests
    that day's dbt models together (one run); once they land, dbt's full tables and the scoring
    are requested together (one run), the watchlist and its publication with them."""
    d = _BuiltDeployment()
    requested = d.ingest_today()
    assert "staging/stg_polymarket__trades" in requested and all(v == {d.today} for v in requested.values()
                                                                   if v != {None}), requested
    assert "marts/wallet_metrics" not in requested and "wallet_scores" not in requested, requested
    for k, parts in requested.items():
        for p in parts:
            d.land(k, p)
    requested = d.tick()
    for k in ("marts/wallet_metrics", "wallet_scores", "whale_watchlist", "followed_watchlist"):
        assert k in requested, (k, sorted(requested))


def test_a_step_landing_while_a_tick_evaluates_holds_the_whole_batch_to_the_next_tick(monkeypatch):
    """A tick reads upstream updates as of its snapshot of the event log but asks live whether
    a run is in progress. The day's last dbt model (the daily P&L) landing in between is, for
    that tick, neither updated nor running. Without care the tables that do not read it start
    now and those that do a tick later, and the scores are built twice. The whole batch waits
    for the next tick instead, and then starts as one."""
    d = _BuiltDeployment()
    daily = d.ingest_today()
    last = "marts/fct_wallet_daily_pnl"
    assert daily.get(last) == {d.today}, sorted(daily)
    for k, parts in daily.items():
        if k != last:
            for p in parts:
                d.land(k, p)
    storage = d.instance.event_log_storage
    snapshot = storage.get_maximum_record_id()
    d.land(last, d.today)
    # The tick took its snapshot just before the daily P&L landed.
    monkeypatch.setattr(type(storage), "get_maximum_record_id", lambda self: snapshot)
    held = d.tick()
    monkeypatch.undo()
    assert held == {}, sorted(held)
    requested = d.tick()
    batch = {k.to_user_string() for k in REBUILD_BATCH.resolve(d.graph) if k in set(d.keys)}
    readers = {k.to_user_string() for k in d.graph.get(dg.AssetKey.from_user_string(last)).child_keys}
    assert readers & batch, readers
    assert batch <= set(requested), sorted(batch - set(requested))
