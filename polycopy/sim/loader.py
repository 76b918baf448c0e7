"""Load a simulated history straight into a warehouse, bypassing HTTP.

For benchmarks and tests of the models downstream of ingestion: records are rendered
in the API's shape and go through the same parsers and warehouse writers as the
ingestion assets, so the raw tables hold what ingestion would have written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Iterable

import numpy as np

from polycopy.polymarket.markets import parse_market, resolve_market
from polycopy.polymarket.schema import parse_activity
from polycopy.sim.records import RecordRenderer, tag_record
from polycopy.sim.world import SimWorld

SOURCE = "sim.loader"


def history_days(world: SimWorld) -> list[date]:
    """Every UTC day from the first market's opening to the end of the history."""
    first = datetime.fromtimestamp(int(world.markets["open_ts"].min()), tz=timezone.utc).date()
    last = datetime.fromtimestamp(world.config.history_end_ts, tz=timezone.utc).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def load_history(world: SimWorld, warehouse, days: list[date] | None = None, batch: int = 200_000,
                 as_of_ts: int | None = None, activity_wallets: set[str] | None = None) -> dict:
    """Write markets (as they stood at ``as_of_ts``, default the end of the history), and
    the trades and resolutions of ``days`` (default: all) known by then, replacing those
    partitions. Returns counts.

    An earlier ``as_of_ts`` gives the warehouse exactly what ingestion would have held
    on that instant: later trades, markets and resolutions are not in it. With
    ``activity_wallets`` (addresses), those wallets' activity other than trades is loaded
    too, as ``raw_wallet_activity`` would read it for candidates.
    """
    return load_histories([world], warehouse, days or history_days(world), batch=batch, as_of_ts=as_of_ts,
                          activity_wallets=activity_wallets)


def load_histories(worlds: Iterable[SimWorld], warehouse, days: list[date], batch: int = 200_000,
                   as_of_ts: int | None = None, activity_wallets: set[str] | None = None) -> dict:
    """:func:`load_history` for several worlds (of disjoint markets and wallets) into one
    warehouse, replacing the partitions of ``days`` once for all of them. ``worlds`` is
    read once, a world at a time: a generator that builds each world as it is asked for
    keeps one world in memory, however many are loaded. Activity is loaded for a single
    world only."""
    if as_of_ts is not None:  # partitions after the instant are not ingested yet: left as they are
        days = [d for d in days if d <= datetime.fromtimestamp(as_of_ts, tz=timezone.utc).date()]
    counts = {"markets": 0, "trades": 0, "resolutions": 0}
    resolutions = []
    days_known: list[date] = []
    loaded: list[SimWorld] = []
    with warehouse.trade_partition_writer(days, SOURCE, flush_rows=batch) as writer:
        for world in worlds:
            now = world.config.history_end_ts if as_of_ts is None else min(as_of_ts, world.config.history_end_ts)
            last_day = datetime.fromtimestamp(now, tz=timezone.utc).date()
            days_known = sorted(d for d in days if d <= last_day)
            render = RecordRenderer(world)
            markets = _markets_known(world, render, now)
            warehouse.upsert_markets(markets, [], SOURCE)
            counts["markets"] += len(markets)
            resolutions.extend(r for m in markets for r in (resolve_market(m) or []))
            # Columns straight from the world (what parse_trade gives for each rendered record),
            # a batch at a time: no object per fill, and memory bounded by the batch.
            ts = world.trades["ts"].to_numpy()
            wanted_days = np.array([(d - date(1970, 1, 1)).days for d in days_known], dtype=np.int64)
            keep = np.flatnonzero((ts <= now) & np.isin(ts // 86_400, wanted_days))
            for start in range(0, len(keep), batch):
                writer.add_frame(render.trades_frame(keep[start:start + batch]))
            if activity_wallets is not None:
                loaded.append(world)
    counts["trades"] = writer.counts["trades"]
    if activity_wallets is not None:
        if len(loaded) != 1:
            raise ValueError("activity is loaded for a single world only")
        _load_activity(loaded[0], warehouse, days_known, set(activity_wallets), batch, as_of_ts)
    counts["resolutions"] = warehouse.replace_resolution_partitions(days, resolutions, [], SOURCE)["resolutions"]
    return counts


def _markets_known(world: SimWorld, render: RecordRenderer, now: int) -> list:
    """Markets open by ``now``, each with its own tags and its event's (the event's tags are
    its first market's, as the venue's /events route serves them)."""
    m = world.markets
    first_of_event = m.groupby("event_slug")["market_idx"].transform("min").to_numpy()
    return [parse_market(render.market_gamma(i, now, include_tag=True),
                         [tag_record(t) for t in m["event_tags"].iat[int(first_of_event[i])]])
            for i in range(len(m)) if m["open_ts"].iat[i] <= now]


def _load_activity(world: SimWorld, warehouse, days: list[date], wanted: set[str], batch: int,
                   as_of_ts: int | None) -> None:
    render = RecordRenderer(world)
    now = world.config.history_end_ts if as_of_ts is None else min(as_of_ts, world.config.history_end_ts)
    day_set = set(days)
    a = world.activity
    addr = world.wallets["address"].to_numpy()
    with warehouse.activity_partition_writer(days, SOURCE, flush_rows=batch) as writer:
        for i, (ts, w) in enumerate(zip(a["ts"].to_numpy(), a["wallet_idx"].to_numpy())):
            if ts <= now and addr[w] in wanted and datetime.fromtimestamp(int(ts), tz=timezone.utc).date() in day_set:
                writer.add([parse_activity(render.activity_v1(i))])
