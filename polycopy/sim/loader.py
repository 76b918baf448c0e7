"""Load a simulated history straight into a warehouse, bypassing HTTP.

For benchmarks and tests of the models downstream of ingestion: records are rendered
in the API's shape and go through the same parsers and warehouse writers as the
ingestion assets, so the raw tables hold what ingestion would have written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from polycopy.polymarket.markets import parse_market, resolve_market
from polycopy.polymarket.schema import parse_activity, parse_trade
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
    render = RecordRenderer(world)
    now = world.config.history_end_ts if as_of_ts is None else min(as_of_ts, world.config.history_end_ts)
    # Each market with its own tags and its event's (the event's tags are its first market's,
    # as the venue's /events route serves them).
    m = world.markets
    first_of_event = m.groupby("event_slug")["market_idx"].transform("min").to_numpy()
    markets = [parse_market(render.market_gamma(i, now, include_tag=True),
                            [tag_record(t) for t in m["event_tags"].iat[int(first_of_event[i])]])
               for i in range(len(m)) if m["open_ts"].iat[i] <= now]
    warehouse.upsert_markets(markets, [], SOURCE)
    days = sorted(d for d in (days or history_days(world))
                  if d <= datetime.fromtimestamp(now, tz=timezone.utc).date())
    day_set = set(days)
    with warehouse.trade_partition_writer(days, SOURCE, flush_rows=batch) as writer:
        pending = []
        for row in range(render.n_trades):
            ts = render.trade_ts(row)
            if ts <= now and datetime.fromtimestamp(ts, tz=timezone.utc).date() in day_set:
                pending.append(parse_trade(render.trade_v1(row)))
            if len(pending) >= batch:
                writer.add(pending)
                pending = []
        writer.add(pending)
    if activity_wallets is not None:
        wanted = set(activity_wallets)
        a = world.activity
        addr = world.wallets["address"].to_numpy()
        with warehouse.activity_partition_writer(days, SOURCE, flush_rows=batch) as writer:
            for i, (ts, w) in enumerate(zip(a["ts"].to_numpy(), a["wallet_idx"].to_numpy())):
                if ts <= now and addr[w] in wanted and datetime.fromtimestamp(int(ts), tz=timezone.utc).date() in day_set:
                    writer.add([parse_activity(render.activity_v1(i))])
    resolutions = [r for m in markets for r in (resolve_market(m) or [])]
    counts = warehouse.replace_resolution_partitions(days, resolutions, [], SOURCE)
    return {"markets": len(markets), "trades": writer.counts["trades"], "resolutions": counts["resolutions"]}
