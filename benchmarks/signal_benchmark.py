"""Benchmark: the copy decision chain.

1. Throughput of the pure decision (``decide_buy``: risk gate, stages 1–3, sizing, slippage
   and edge at our fill) for a portfolio of 15 open positions, each with a 30-day hourly
   price history, and a 10-level order book — decisions per second and µs per decision.
2. What the chain adds to a copy: against the simulated venue's HTTP server with a real
   ledger, the wall time of assessing the portfolio (marks, histories, mVaR, breakers),
   of deciding a trade (market data and the stages) and of placing the paper order, with
   0 and with 10 open positions. Medians and p95 in milliseconds.

    python benchmarks/signal_benchmark.py [--decisions 5000] [--trades 20]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from polycopy.execution.copier import (TradingRules, decide_signal, load_signal,  # noqa: E402
                                       place_signal_order)
from polycopy.execution.paper import PaperVenue  # noqa: E402
from polycopy.execution.portfolio_state import assess_portfolio  # noqa: E402
from polycopy.ledger.store import LedgerSettings, open_ledger  # noqa: E402
from polycopy.polymarket.clients import Endpoints, PolymarketClients  # noqa: E402
from polycopy.polymarket.schema import Trade, trade_key  # noqa: E402
from polycopy.sim.server import running_venue  # noqa: E402
from polycopy.sim.world import SimConfig, generate_world  # noqa: E402
from polycopy.trading.portfolio import FillRow, build_portfolio  # noqa: E402
from polycopy.trading.settings import RiskSettings, SignalSettings, SizingSettings  # noqa: E402
from polycopy.trading.signals import MarketView, PortfolioView, WhaleProfile, WhaleTrade, decide_buy  # noqa: E402

DAY = 86_400
CATEGORIES = ("politics", "sports", "crypto", "economics", "world")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def ms(xs):
    return {"median": round(1000 * statistics.median(xs), 2), "p95": round(1000 * pct(xs, 0.95), 2)}


def hourly_history(rng, now, days=30):
    """A bounded random walk of hourly prices over ``days`` (ts -> price)."""
    n = days * 24 + 1
    p = np.clip(0.5 + np.cumsum(rng.normal(0, 0.01, n)), 0.03, 0.97)
    return {int(now) - (n - 1 - i) * 3600: float(x) for i, x in enumerate(p)}


def decision_throughput(n: int) -> dict:
    rng = np.random.default_rng(7)
    now = 1_790_000_000.0
    fills = [FillRow(i, f"o{i}", f"t{i}", f"c{i}", "BUY", 0.3 + 0.02 * i, 1_000.0, 2.0, f"w{i % 4}",
                     CATEGORIES[i % 5], f"e{i}") for i in range(15)]
    pf = build_portfolio(fills, {}, 50_000.0)
    histories = {f"t{i}": hourly_history(rng, now) for i in range(15)}
    pv = PortfolioView(pf, 0.01, (), histories, 0)
    sig, siz = SignalSettings(), SizingSettings(max_open_positions=20)  # room for a 16th position
    whale = WhaleProfile("w", True, 88.0, 0.85, "Elite", 0.15, 10)
    cases = []
    for k in range(n):
        ask = round(float(rng.uniform(0.3, 0.6)), 2)
        asks = tuple((round(ask + 0.01 * j, 2), float(rng.uniform(500, 5_000))) for j in range(10))
        bids = tuple((round(ask - 0.01 * (j + 1), 2), float(rng.uniform(500, 5_000))) for j in range(10))
        market = MarketView(f"cnew{k}", CATEGORIES[k % 5], f"enew{k}", now + 20 * DAY, 80_000.0, True, asks, bids,
                            0.01, 5.0, hourly_history(rng, now))
        cases.append((WhaleTrade("w", f"tnew{k}", f"cnew{k}", ask, 12_000 / ask, now - 30), market))
    start = time.perf_counter()
    outcomes = [decide_buy(t, whale, False, m, pv, sig, siz, 0.05, now) for t, m in cases]
    elapsed = time.perf_counter() - start
    stages = {}
    for d in outcomes:
        key = "copy" if d.decision == "copy" else d.stage
        stages[key] = stages.get(key, 0) + 1
    return {"decisions": n, "open_positions": len(pf.holdings), "history_points_per_token": 721,
            "decisions_per_s": round(n / elapsed), "us_per_decision": round(1e6 * elapsed / n, 1),
            "outcomes": stages}


def chain_timings(trades: int) -> dict:
    anchor = datetime.fromtimestamp(int(time.time()) // 60 * 60, tz=timezone.utc)
    world = generate_world(SimConfig(seed=41, n_markets=3_000, n_wallets=50, n_trades=2_000, history_days=40,
                                     live_days=1.0, history_end=anchor))
    # Gates wide open so that every trade is sized and ordered; caps wide enough for 10+ positions.
    rules = TradingRules(signals=SignalSettings(min_edge=-1, max_slippage=1, max_spread=1, max_correlation=1.01,
                                                max_category_exposure=1, min_market_liquidity_usd=0,
                                                max_days_to_resolution=100_000, min_hours_to_resolution=0),
                         sizing=SizingSettings(max_open_positions=1_000, max_trade_usd=200, max_category_exposure=1),
                         # Buying at the ask and marking at the midpoint is a paper loss; the
                         # breakers would halt the chain, which is not what is timed here.
                         risk=RiskSettings(daily_loss_limit_usd=1e12, hourly_loss_limit_usd=1e12, mvar_halt=1e9,
                                           starting_capital_usd=50_000))
    wallet = "0x" + "ab" * 20
    out = {}
    with running_venue(world=world) as server, tempfile.TemporaryDirectory() as tmp:
        clients = PolymarketClients.connect(Endpoints.single_host(server.url))
        ledger = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=str(Path(tmp) / "ledger.sqlite")))
        profile = {"wallet_address": wallet, "position": 1, "wqs": 90.0, "wqs_lower": 85.0,
                   "win_rate_posterior": 0.9, "tier": "Elite", "tier_max_exposure": 1.0,
                   "tier_max_daily_trades": 100_000, "excluded": False}
        ledger.publish_watchlist([profile], "2026-01-01")
        ledger.publish_wallet_profiles([profile], "2026-01-01")
        venue = PaperVenue(ledger, clients.clob, fee_rate=rules.fee_rate)
        now = time.time()
        m = world.markets
        open_markets = m[(m.open_ts <= now - 3 * DAY) & (m.closed_ts > now + DAY)]
        tokens = []
        for row in open_markets.itertuples():
            book = clients.clob.book(str(row.token0))
            if book.best_ask and 0.1 <= book.best_ask <= 0.9 and book.asks[0].size * book.best_ask > 300:
                tokens.append((row, book.best_ask))
            if len(tokens) >= 10 + 2 * trades:
                break
        n = 0

        def trade(row, ask):
            nonlocal n
            n += 1
            tx = "0x" + f"{n:064x}"
            size = round(8_000 / ask, 2)
            return Trade(trade_key(tx, wallet, str(row.token0), "BUY", size, ask), tx, wallet, "BUY", str(row.token0),
                         row.condition_id, size, ask, size * ask, int(time.time() - 5), None, 0, None, None, None,
                         None, None, "v1")

        def decide_one(t, state):
            """Record the fill (its own signal: one fill, one order) and decide it once."""
            ledger.record_seen_trades([t])
            key = ledger.signal_of_trade(t.trade_key)
            d, _, _ = decide_signal(load_signal(ledger, key), ledger=ledger, clients=clients, rules=rules,
                                    state=state)
            return d, key

        def measure(batch):
            assess, decide, place, copied, skipped = [], [], [], 0, {}
            for row, ask in batch:
                t = trade(row, ask)
                t0 = time.perf_counter()
                state = assess_portfolio(ledger, clients, rules.risk, rules.signals)
                t1 = time.perf_counter()
                d, key = decide_one(t, state)
                t2 = time.perf_counter()
                outcome = place_signal_order(key, ledger=ledger, venue=venue)
                t3 = time.perf_counter()
                assess.append(t1 - t0)
                decide.append(t2 - t1)
                place.append(t3 - t2)
                copied += outcome.order_status == "filled"
                if d["decision"] == "skip":
                    skipped[d["reason"]] = skipped.get(d["reason"], 0) + 1
            return {"trades": len(batch), "copied": copied, "skipped": skipped, "assess_portfolio_ms": ms(assess),
                    "decide_ms": ms(decide), "place_order_ms": ms(place),
                    "chain_total_ms": ms([a + b + c for a, b, c in zip(assess, decide, place)])}

        # With an empty portfolio; then with 10 more positions open, on markets not yet held.
        out[f"open_positions_0_to_{trades - 1}"] = measure(tokens[:trades])
        for row, ask in tokens[trades:trades + 10]:
            t = trade(row, ask)
            _, key = decide_one(t, assess_portfolio(ledger, clients, rules.risk, rules.signals))
            place_signal_order(key, ledger=ledger, venue=venue)
        held = len(assess_portfolio(ledger, clients, rules.risk, rules.signals, record=False).portfolio.holdings)
        out[f"open_positions_{held}_to_{held + trades - 1}"] = measure(tokens[trades + 10:trades * 2 + 10])
        clients.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--decisions", type=int, default=5_000)
    ap.add_argument("--trades", type=int, default=20)
    args = ap.parse_args()
    result = {"decide_buy": decision_throughput(args.decisions), "copy_chain_against_venue": chain_timings(args.trades)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
