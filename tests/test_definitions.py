"""The code locations load and expose what users see in the UI."""

import subprocess
import sys

import dagster as dg

from polycopy_dagster import definitions, execution
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
