"""A whole simulated run of copying, position lifecycle included, and its independent audit.

The venue's clock advances step by step (``step_s``) through the world's live segment.
Each step does what the deployed sensors and jobs do, in process and without Dagster: read
the followed wallets' new fills from the venue's feed, decide each new signal and send its
order, review the open positions (settling those whose market resolved, deciding and
sending the exits a rule calls for), and every few hours record a NAV snapshot. The
ledger's clock is the venue's.

The audit recomputes, without the ledger's accounting code: each position's realized P&L
from the venue's own execution records and the ground truth's payouts; the cash at every
NAV snapshot; and that every position is closed or still open in a market not resolved.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from polycopy.execution.copier import TradingRules, decide_signal, load_signal, place_signal_order
from polycopy.execution.paper import PaperVenue
from polycopy.execution.portfolio_state import assess_portfolio
from polycopy.execution.position_exits import (decide_position_exit, place_exit_order, position_report, positions,
                                               review_positions)
from polycopy.feed import PollingActivityFeed
from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy.sim.server import SimVenue, in_process_clients
from polycopy.sim.world import SimConfig, generate_world
from polycopy.trading.settings import ExitSettings, RiskSettings, SignalSettings, SizingSettings

HOUR, DAY = 3_600, 86_400

# Entry gates opened wide (size, edge, correlation, exposure; the book's own gates kept): this run
# is about what happens to positions once they exist.
RUN_RULES = TradingRules(
    signals=SignalSettings(min_whale_trade_usd=500.0, max_days_to_resolution=120.0, min_edge=-1.0,
                           max_trade_age_s=3 * HOUR, max_correlation=1.01, max_total_exposure=1.0,
                           max_category_exposure=1.0),
    sizing=SizingSettings(min_trade_usd=20.0, max_trade_usd=400.0, max_open_positions=25, max_market_exposure=0.2,
                          max_category_exposure=1.0, max_total_exposure=0.95, confidence_floor=1.0,
                          kelly_fraction=1.0, max_kelly_fraction=0.05),
    risk=RiskSettings(daily_loss_limit_usd=1e9, hourly_loss_limit_usd=1e9, max_consecutive_losses=10_000,
                      max_drawdown=0.99, mvar_halt=1e9, mvar_yellow=1e9),
    exits=ExitSettings(),
)


@dataclass
class RunResult:
    days: float
    seconds: float
    followed: list[str]
    signals: int = 0
    copies: int = 0
    exits_by_rule: Counter = field(default_factory=Counter)
    snapshots: int = 0
    audit: dict = field(default_factory=dict)
    report: list[dict] = field(default_factory=list)


def followed_wallets(world, n: int) -> list[str]:
    """The wallets with the most BUYs in the live segment (the run copies them)."""
    t = world.trades
    live = t[(t["ts"] > world.config.history_end_ts) & (t["side"] == 0)]
    top = live["wallet_idx"].value_counts().index[:n]
    return [str(world.wallets["address"].iat[int(i)]) for i in top]


def run_copying(ledger_path: str, *, seed: int = 11, days: float = 30.0, step_s: int = HOUR, n_followed: int = 10,
                snapshot_every_s: int = 6 * HOUR, n_markets: int = 400, n_wallets: int = 300,
                n_trades: int = 60_000, rules: TradingRules = RUN_RULES) -> RunResult:
    """Copy ``n_followed`` wallets for ``days`` simulated days on a fresh world; audit the ledger."""
    anchor = datetime(2026, 6, 1, tzinfo=timezone.utc)
    world = generate_world(SimConfig(seed=seed, n_markets=n_markets, n_wallets=n_wallets, n_trades=n_trades,
                                     history_days=20, live_days=days + 1, history_end=anchor))
    clock = {"now": float(world.config.history_end_ts)}

    def ticking() -> float:  # the venue's time, moving on by a millisecond whenever something is stamped
        clock["now"] += 0.001
        return clock["now"]

    ledger = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=ledger_path), clock=ticking)
    followed = followed_wallets(world, n_followed)
    ledger.publish_wallet_profiles([
        {"wallet_address": w, "wqs": 80.0, "wqs_lower": 70.0, "win_rate_posterior": 0.6, "tier": "Expert",
         "tier_max_exposure": 0.5, "tier_max_daily_trades": 100, "excluded": False, "state": "watching"}
        for w in followed], "2026-06-01")
    started = time.perf_counter()
    out = RunResult(days, 0.0, followed)
    # The venue answers in process: the real clients and parsers without a socket.
    sim = SimVenue(world)
    clients = in_process_clients(sim)
    venue = PaperVenue(ledger, clients.clob, rules.fee_rate)
    feed = PollingActivityFeed(clients.data, overlap_s=step_s, lookback_s=step_s)
    cursor: dict = {}
    t = world.config.history_end_ts
    end = t + int(days * DAY)
    next_snapshot = t
    while t < end:
        t += step_s
        sim.clock.set(t)
        clock["now"] = float(t)
        poll = feed.poll(followed, cursor, now=t)
        cursor = poll.cursor
        ledger.record_seen_trades(poll.trades, seen_at=t)
        fresh = [s["signal_key"] for s in ledger.signals_to_launch()]
        if fresh:
            state = assess_portfolio(ledger, clients, rules.risk, rules.signals, now=t, record=False)
            for key in fresh:
                ledger.record_launch([key], f"run-{t}")
                d, _, state = decide_signal(load_signal(ledger, key), ledger=ledger, clients=clients, rules=rules,
                                            state=state, followed_override=True, run_id=f"run-{t}", now=t)
                out.signals += 1
                if d["decision"] == "copy":
                    place_signal_order(key, ledger=ledger, venue=venue, order_deadline_s=2 * step_s)
        review = review_positions(ledger, clients, rules.exits, now=t)
        for pos, seq, _ in review.exits:
            d, _ = decide_position_exit(ledger, clients, pos.position_id, seq, rules.exits, now=t)
            place_exit_order(ledger, venue, d["exit_key"], order_deadline_s=2 * step_s)
        if t >= next_snapshot:
            assess_portfolio(ledger, clients, rules.risk, rules.signals, now=ticking(), record=True)
            next_snapshot = t + snapshot_every_s
    clients.close()
    out.seconds = time.perf_counter() - started
    out.report = position_report(ledger)
    out.copies = sum(1 for o in ledger.orders() if o["side"] == "BUY" and o["status"] == "filled")
    for r in out.report:
        for rule in filter(None, (x.strip() for x in r["rules"].split(","))):
            out.exits_by_rule[rule] += 1
    out.snapshots = len(ledger.nav_history())
    out.audit = audit(ledger, world, end, rules.risk.starting_capital_usd)
    return out


def _payout(world, token_id: str) -> float:
    m = world.markets
    for i, (t0, t1) in enumerate(zip(m["token0"].astype(str), m["token1"].astype(str))):
        if token_id in (t0, t1):
            if bool(m["void"].iat[i]):
                return 0.5
            return 1.0 if int(m["winner"].iat[i]) == (0 if token_id == t0 else 1) else 0.0
    raise KeyError(token_id)


def _resolved_by(world, condition_id: str, ts: float) -> bool:
    m = world.markets
    i = int(np.flatnonzero(m["condition_id"].to_numpy() == condition_id)[0])
    return int(m["resolved_ts"].iat[i]) <= ts


def audit(ledger, world, end_ts: float, capital: float) -> dict:
    """Recompute what the ledger claims from the venue's records and the truth."""
    orders = {o["order_id"]: o for o in ledger.orders()}
    # Cash flows in time order: the paper venue's own executions, and settlements at the truth's payout.
    events = []
    for o in orders.values():
        if o["venue"] == "settlement":
            events.append((float(o["created_at"]), o["order_id"], o["token_id"], "SELL",
                           [(_payout(world, o["token_id"]), float(o["shares"]))], 0.0))
            continue
        ex = ledger.paper_execution(o["order_id"])
        if ex is None or float(ex["filled_shares"]) <= 0:
            continue
        fill_ts = max(float(f["filled_at"]) for f in ledger.fills_for_order(o["order_id"]))
        events.append((fill_ts, o["order_id"], o["token_id"], o["side"],
                       [(float(p), float(q)) for p, q in json.loads(ex["levels"])], float(ex["fee_usd"])))
    events.sort(key=lambda e: e[0])
    cash_after: list[tuple[float, float]] = []
    cash = capital
    held: dict = defaultdict(float)
    basis: dict = defaultdict(float)
    current: dict = {}
    pnl: dict = defaultdict(float)
    for ts, order_id, token, side, levels, fee in events:
        q = sum(s for _, s in levels)
        usd = sum(p * s for p, s in levels)
        if side == "BUY":
            cash -= usd + fee
            if held[token] <= 1e-9:
                current[token] = order_id
            held[token] += q
            basis[token] += usd + fee
        else:
            cash += usd - fee
            if held[token] <= 1e-9:
                continue  # a sale of shares no position holds (an unsellable rest): cash only
            # Beyond what the position holds (the rest a closed position left behind) a sale
            # realizes nothing: only cash.
            part = min(q, held[token])
            avg = basis[token] / held[token]
            pnl[current[token]] += (usd / q - avg) * part - fee
            basis[token] -= avg * part
            held[token] -= part
            if held[token] < 0.01 - 1e-9:  # the unsellable rest is written off at its cost
                pnl[current[token]] -= basis[token] if held[token] > 1e-6 else 0.0
                held[token], basis[token] = 0.0, 0.0
        cash_after.append((ts, cash))
    ours = {p.position_id: p for p in positions(ledger)}
    pnl_diff = max((abs(ours[k].realized_pnl_usd - v) for k, v in pnl.items()), default=0.0)
    missing = sorted(set(k for k, p in ours.items() if p.sold_shares > 0) - set(pnl))
    # Every NAV snapshot: its cash is the recomputed cash at that time, and NAV = cash + marked positions.
    snaps = ledger._rows("select ts, nav_usd, cash_usd, exposure_usd from nav_snapshots order by ts")
    cash_diff = nav_diff = 0.0
    for s in snaps:
        at = [c for ts, c in cash_after if ts <= s["ts"]]
        expect = at[-1] if at else capital
        cash_diff = max(cash_diff, abs(expect - s["cash_usd"]))
        nav_diff = max(nav_diff, abs(s["nav_usd"] - (s["cash_usd"] + s["exposure_usd"])))
    still_open = [p for p in ours.values() if p.is_open]
    open_in_resolved = [p.position_id for p in still_open if _resolved_by(world, p.condition_id, end_ts)]
    negative = [p.position_id for p in ours.values() if p.shares < -1e-9]
    return {"positions": len(ours), "closed": len(ours) - len(still_open), "open": len(still_open),
            "open_in_resolved_markets": open_in_resolved, "negative_holdings": negative,
            "max_realized_pnl_diff_usd": pnl_diff, "positions_missing_from_audit": missing,
            "max_snapshot_cash_diff_usd": cash_diff, "max_nav_identity_diff_usd": nav_diff,
            "min_cash_usd": min((c for _, c in cash_after), default=capital),
            "realized_pnl_usd": sum(p.realized_pnl_usd for p in ours.values())}
