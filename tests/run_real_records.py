"""Run the pipeline — ingestion, every dbt model, wallet scores and the watchlist — on the
real records captured from the Polymarket API, served as they were by the recorded venue.
Prints one JSON line: what each run did and every failed check (with whether it blocks).
Run as a subprocess with POLYCOPY_HISTORY_START set before the records' first day (the
partitions are fixed when the definitions load), POLYCOPY_DUCKDB_PATH and POLYCOPY_LEDGER_PATH."""

import json
import os
import sys
from pathlib import Path

import dagster as dg

from polycopy.sim.recorded import RecordedVenue
from polycopy.sim.server import VenueServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "polymarket"
venue = RecordedVenue.from_files(FIXTURES / "data_api_activity_real_2024-09.json",
                                 FIXTURES / "gamma_market_resolved_real.json")
server = VenueServer(venue).start()
os.environ["POLYCOPY_SIM_URL"] = server.url
os.environ["POLYCOPY_FOLLOW_WALLETS"] = ",".join(sorted({r["proxyWallet"] for r in venue.activity_records}))

from polycopy_dagster.defs.dbt_models import polycopy_dbt_daily_models, polycopy_dbt_marts  # noqa: E402
from polycopy_dagster.defs.ingestion import (asset_checks, market_resolutions, raw_markets, raw_trades,  # noqa: E402
                                             raw_wallet_activity)
from polycopy_dagster.defs.resources import build_data_resources  # noqa: E402
from polycopy_dagster.defs.scoring import (red_flag_rates_sane, wallet_scores,  # noqa: E402
                                           watchlist_has_no_excluded_wallets, watchlist_not_empty, whale_watchlist,
                                           wqs_within_bounds)

resources = build_data_resources()
instance = dg.DagsterInstance.ephemeral()
quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
window = {"dagster/asset_partition_range_start": sys.argv[1], "dagster/asset_partition_range_end": sys.argv[2]}
runs = {
    "markets": dg.materialize([raw_markets, *asset_checks], selection=dg.AssetSelection.assets(raw_markets),
                              resources=resources, instance=instance, run_config=quiet, raise_on_error=False),
    "ingest": dg.materialize([raw_trades, market_resolutions, raw_wallet_activity, *asset_checks],
                             selection=dg.AssetSelection.assets(raw_trades, market_resolutions, raw_wallet_activity),
                             resources=resources, instance=instance, run_config=quiet, tags=window,
                             raise_on_error=False),
    "dbt_window": dg.materialize([polycopy_dbt_daily_models], resources=resources,
                                 instance=instance, run_config=quiet, tags=window, raise_on_error=False),
    "dbt_marts": dg.materialize([polycopy_dbt_marts], resources=resources, instance=instance, run_config=quiet,
                                raise_on_error=False),
    "scoring": dg.materialize([wallet_scores, whale_watchlist, wqs_within_bounds, red_flag_rates_sane,
                               watchlist_has_no_excluded_wallets, watchlist_not_empty], resources=resources,
                              instance=instance, run_config=quiet, raise_on_error=False),
}
specs = {}
for d in (raw_markets, raw_trades, market_resolutions, raw_wallet_activity, polycopy_dbt_daily_models,
          polycopy_dbt_marts, wallet_scores, whale_watchlist):
    specs.update({c.key.name: c.blocking for c in d.check_specs})
for c in (*asset_checks, wqs_within_bounds, red_flag_rates_sane, watchlist_has_no_excluded_wallets,
          watchlist_not_empty):
    specs.update({s.key.name: s.blocking for s in c.check_specs})
failed = sorted({e.check_name for r in runs.values() for e in r.get_asset_check_evaluations() if not e.passed})
wh = resources["warehouse"].open()
q = lambda sql: wh.query_df(sql).to_dict("records")  # noqa: E731
out = {
    "success": {k: r.success for k, r in runs.items()},
    "checks_run": sum(len(r.get_asset_check_evaluations()) for r in runs.values()),
    "failed_checks": {name: bool(specs.get(name, False)) for name in failed},
    "raw_trades": int(wh.scalar("select count(*) from raw.trades")),
    "activity_by_type": {r["type"]: int(r["n"]) for r in q("select type, count(*) as n from raw.activity group by type")},
    "markets": q("select condition_id, category from raw.markets"),
    "stg_trades": int(wh.scalar("select count(*) from staging.stg_polymarket__trades")),
    "positions": q("select wallet_address, token_id, outcome, bought_shares, open_shares, unknown_cost_shares "
                   "from intermediate.int_positions"),
    "redemptions": q("select wallet_address, redeemed_shares, redeemed_usd, recorded_shares, "
                     "unknown_cost_shares_redeemed, unknown_cost_payout_usd, resolution_known "
                     "from intermediate.int_wallet_redemptions"),
    "resolutions": q("select token_id, payout_usd_per_share from staging.stg_polymarket__market_resolutions"),
    "wallet_metrics": int(wh.scalar("select count(*) from marts.wallet_metrics")),
    "scored": int(wh.scalar("select count(*) from scores.wallet_scores")),
}
server.stop()
print(json.dumps(out, default=str))
