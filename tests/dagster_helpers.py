"""Helpers to run the real Dagster assets against a simulated venue in tests."""

import tempfile
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from polycopy_dagster.defs.ingestion import (asset_checks, market_resolutions, raw_markets, raw_trades,
                                             raw_wallet_activity)
from polycopy_dagster.defs.resources import (LedgerResource, PolymarketResource, WalletActivityResource,
                                             WarehouseResource)


def api_resource(url: str, **overrides) -> PolymarketResource:
    cfg = dict(data_api_url=url, gamma_url=url, clob_url=url, timeout_s=0.3, max_retries=15,
               backoff_base_s=0.01, backoff_max_s=0.1)
    cfg.update(overrides)
    return PolymarketResource(**cfg)


def day(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).date().isoformat()


def ingest(world, resources: dict, first_day: str | None = None, last_day: str | None = None):
    """Materialize raw_markets, then trades, resolutions and wallet activity over a day range,
    with their checks. Without a ledger resource, an empty one (no published watchlist)."""
    resources = dict(resources)
    if "ledger" not in resources:
        resources["ledger"] = LedgerResource(sqlite_path=str(Path(tempfile.mkdtemp()) / "ledger.sqlite"))
    resources.setdefault("wallet_activity", WalletActivityResource())
    # From the first market's opening: resolutions of markets that closed before the trade
    # history began belong to the history too.
    first = first_day or day(int(world.markets["open_ts"].min()))
    last = last_day or day(world.config.history_end_ts)
    instance = dg.DagsterInstance.ephemeral()
    r1 = dg.materialize([raw_markets, *asset_checks], instance=instance, resources=resources,
                        selection=dg.AssetSelection.assets(raw_markets))
    r2 = dg.materialize(
        [raw_trades, market_resolutions, raw_wallet_activity, *asset_checks], instance=instance,
        resources=resources, selection=dg.AssetSelection.assets(raw_trades, market_resolutions, raw_wallet_activity),
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )
    return r1, r2


def warehouse(path) -> WarehouseResource:
    return WarehouseResource(backend="duckdb", duckdb_path=str(path))
