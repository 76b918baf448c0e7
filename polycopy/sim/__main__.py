"""Command line of the simulated venue.

    python -m polycopy.sim serve --port 8765 --speed 60
    python -m polycopy.sim serve-recorded --activity activity.json --markets gamma_markets.json
    python -m polycopy.sim export-truth --out .data/truth
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import datetime, timezone

from polycopy.sim.server import FaultConfig, SimVenue, VenueServer
from polycopy.sim.truth import export_truth
from polycopy.sim.world import SimConfig, generate_world


def parse_history_end(value: str) -> datetime:
    """'now' (this minute), 'today' (last midnight UTC) or an ISO date/time (UTC)."""
    now = datetime.now(timezone.utc)
    if value == "now":
        return now.replace(second=0, microsecond=0)
    if value == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def add_world_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--markets", type=int, default=400)
    p.add_argument("--wallets", type=int, default=1500)
    p.add_argument("--trades", type=int, default=60_000)
    p.add_argument("--history-days", type=int, default=30)
    p.add_argument("--history-end", default="now", help="'now', 'today' or an ISO time (UTC)")
    p.add_argument("--live-days", type=float, default=2.0, help="days of trades released by the clock")


def world_config(args) -> SimConfig:
    return SimConfig(seed=args.seed, n_markets=args.markets, n_wallets=args.wallets, n_trades=args.trades,
                     history_days=args.history_days, history_end=parse_history_end(args.history_end),
                     live_days=args.live_days)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="polycopy-sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="serve the simulated Polymarket APIs on localhost")
    add_world_args(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    serve.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that fail")
    serve.add_argument("--rate-limits", action="store_true", help="enforce the published rate limits")
    truth = sub.add_parser("export-truth", help="write the ground truth (evaluation only)")
    add_world_args(truth)
    truth.add_argument("--out", required=True)
    recorded = sub.add_parser("serve-recorded", help="serve records captured from the real API, as they were")
    recorded.add_argument("--activity", required=True, help="JSON list of /activity rows")
    recorded.add_argument("--markets", required=True, help="JSON list (or one object) of Gamma market records")
    recorded.add_argument("--host", default="127.0.0.1")
    recorded.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)

    if args.cmd == "serve-recorded":
        from polycopy.sim.recorded import RecordedVenue

        venue = RecordedVenue.from_files(args.activity, args.markets)
        print(f"recorded venue: {len(venue.activity_records)} activity rows, {len(venue.market_records)} markets",
              flush=True)
        return _serve(VenueServer(venue, host=args.host, port=args.port).start())

    t0 = time.perf_counter()
    world = generate_world(world_config(args))
    print(f"world: {len(world.markets)} markets, {len(world.wallets)} wallets, {len(world.trades)} trades "
          f"in {time.perf_counter() - t0:.1f}s", flush=True)
    if args.cmd == "export-truth":
        print(f"ground truth written to {export_truth(world, args.out)}")
        return 0
    venue = SimVenue(world, speed=args.speed, faults=FaultConfig(rate=args.fault_rate),
                     enforce_rate_limits=args.rate_limits)
    server = VenueServer(venue, host=args.host, port=args.port).start()
    print(f"simulated Polymarket venue on {server.url} (speed {args.speed}x)", flush=True)
    return _serve(server)


def _serve(server: VenueServer) -> int:
    """Serve until SIGTERM or Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            stop.wait(1.0)
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
