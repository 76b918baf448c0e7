"""Copy one source trade, at most once.

Order of operations (each step durable before the next):
1. the source trade is recorded as seen;
2. the decision — the risk gate, stages 1–3 and sizing for a BUY, the mirrored exit for
   a SELL; copy or skip, with the stage, the reason and the values behind it — is
   claimed in the ledger: a trade is decided once, whatever retries happen;
3. a copy order is saved as *pending* before it is sent;
4. the venue's answer (fills, fee, status) settles the order.
A pending order left by a crash is reconciled with the venue by its client order
id and never blindly re-sent.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass

from polycopy.execution.portfolio_state import PortfolioState, assess_portfolio
from polycopy.polymarket.http import ApiError
from polycopy.polymarket.clients import market_with_event_tags
from polycopy.polymarket.markets import parse_market
from polycopy.polymarket.schema import RecordError, Trade
from polycopy.trading.settings import RiskSettings, SignalSettings, SizingSettings
from polycopy.trading.signals import (Decision, MarketView, WhaleProfile, WhaleTrade, decide_buy,
                                      needs_market_data)


@dataclass(frozen=True)
class TradingRules:
    """Everything a copy decision follows: the signal stages, sizing, risk limits, the taker
    fee rate (fee = shares × rate × p × (1 − p)) and when pending orders are reconciled (s)."""

    signals: SignalSettings = SignalSettings()
    sizing: SizingSettings = SizingSettings()
    risk: RiskSettings = RiskSettings()
    fee_rate: float = 0.05
    reconcile_after_s: float = 60.0


@dataclass(frozen=True)
class CopyOutcome:
    trade_key: str
    decision: str  # copy | skip
    stage: str
    reason: str
    order_id: str | None = None
    order_status: str | None = None
    filled_shares: float = 0.0
    avg_price: float | None = None
    fee_usd: float = 0.0
    already_decided: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def client_order_id(trade_key: str) -> str:
    """Deterministic client order id of the copy of a source trade."""
    return f"pc-{trade_key[:24]}"


def _floor_to(x: float, step: float) -> float:
    return math.floor(x / step + 1e-9) * step


def market_view(clients, trade: Trade, lookback_days: float, now: float) -> tuple[MarketView | None, str]:
    """The trade's market as the venue shows it now: Gamma record, order book and hourly
    price history. (None, why) when the venue cannot show it."""
    try:
        rec, event_tags = market_with_event_tags(clients.gamma, trade.condition_id)
    except ApiError as exc:
        return None, f"market lookup failed: {exc}"
    if rec is None:
        return None, "the market is unknown to Gamma"
    try:
        m = parse_market(rec, event_tags)
    except RecordError as exc:
        return None, f"malformed market record: {exc}"
    try:
        book = clients.clob.book(trade.token_id)
    except ApiError as exc:
        return None, f"no order book: {exc}"
    try:
        history = clients.clob.prices_history(trade.token_id, int(now - lookback_days * 86_400), int(now)).points
    except ApiError:
        history = {}  # no history: volatility 0 and no co-movement evidence (floors still apply)
    accepting = not m.closed and bool(rec.get("acceptingOrders", True))
    return MarketView(
        condition_id=m.condition_id, category=m.category or "", event_slug=m.event_slug or "",
        end_ts=m.end_ts, liquidity_usd=m.liquidity, accepting_orders=accepting,
        asks=tuple((lv.price, lv.size) for lv in book.asks), bids=tuple((lv.price, lv.size) for lv in book.bids),
        tick_size=book.tick_size or 0.01, min_order_size=book.min_order_size, history=history,
    ), ""


def whale_profile(ledger, wallet: str) -> WhaleProfile | None:
    """The source wallet's published score, or None if it was never scored."""
    r = ledger.wallet_profile(wallet)
    if r is None:
        return None
    nan = float("nan")
    return WhaleProfile(r["wallet_address"], bool(r["on_watchlist"]), nan if r["wqs"] is None else float(r["wqs"]),
                        nan if r["win_rate"] is None else float(r["win_rate"]), r["tier"],
                        float(r["tier_max_exposure"]), int(r["tier_max_daily_trades"]), bool(r["excluded"]))


def decide_exit(trade: Trade, ledger, clob, state: PortfolioState) -> Decision:
    """Mirror a whale's SELL: sell what we hold of the token, fill-and-kill at the best bid.
    Exits are never skipped for price or age. A halt (kill switch, breaker, mVaR) stops them
    too: while it lasts no order of any kind goes out."""
    v: dict = {"whale_price": trade.price, "whale_shares": trade.size}
    if state.halted:
        v["halt_reasons"] = list(state.halt_reasons)
        return Decision("skip", "risk", "trading halted: " + "; ".join(state.halt_reasons), v)
    held = ledger.position_shares(trade.token_id)
    v["held_shares"] = held
    if held <= 1e-9:
        return Decision("skip", "exit", "no position in this token to exit", v)
    try:
        book = clob.book(trade.token_id)
    except ApiError as exc:
        return Decision("skip", "exit", f"no order book to exit into: {exc}", v)
    v["best_bid"] = book.best_bid
    if book.best_bid is None:
        return Decision("skip", "exit", "no bids to exit into", v)
    shares = round(_floor_to(held, 0.01), 2)
    v.update(shares=shares, limit_price=book.best_bid)
    return Decision("copy", "exit", "mirror the source wallet's exit at the best bid", v, shares=shares,
                    limit_price=book.best_bid)


def decide_trade(trade: Trade, *, ledger, clients, rules: TradingRules, state: PortfolioState,
                 followed_override: bool = False, run_id: str | None = None, now: float | None = None
                 ) -> tuple[dict, bool]:
    """Record the source trade as seen, decide it once and record the decision.

    Returns (the decision row, True if this call made it). A trade decided before (by an
    earlier run, a retry or a concurrent run) keeps its first decision.
    """
    now = time.time() if now is None else now
    ledger.record_seen(trade.trade_key, trade.proxy_wallet, trade.condition_id, trade.token_id, trade.side,
                       trade.size, trade.price, trade.timestamp, trade.as_row(), seen_at=now)
    existing = ledger.decision(trade.trade_key)
    if existing is not None:
        return existing, False
    if trade.side == "BUY":
        whale = whale_profile(ledger, trade.proxy_wallet)
        lookback = max(rules.signals.correlation_lookback_days, rules.risk.mvar_lookback_days)
        wt = WhaleTrade(trade.proxy_wallet, trade.token_id, trade.condition_id, trade.price, trade.size,
                        trade.timestamp)
        # Only trades that pass the gates needing no market data cost a round of requests.
        fetch = needs_market_data(wt, whale, followed_override, state.halt_reasons, rules.signals, now)
        market, why = market_view(clients, trade, lookback, now) if fetch else (None, "")
        copies = ledger.wallet_copies_since(trade.proxy_wallet, now - now % 86_400)
        d = decide_buy(wt, whale, followed_override, market, state.view(copies), rules.signals, rules.sizing,
                       rules.fee_rate, now)
        if market is None and why and d.stage == "stage2_trade":
            d = Decision(d.decision, d.stage, f"{d.reason}: {why}", d.values)
        if d.decision == "copy" and market is not None:
            ledger.remember_market(market.condition_id, market.category, market.event_slug, market.end_ts, None)
    else:
        d = decide_exit(trade, ledger, clients.clob, state)
    details = dict(d.values, shares=d.shares, limit_price=d.limit_price) if d.decision == "copy" else d.values
    claimed = ledger.claim_decision(trade.trade_key, d.decision, d.stage, d.reason, details, run_id)
    return ledger.decision(trade.trade_key), claimed


def place_order(trade: Trade, *, ledger, venue) -> CopyOutcome:
    """Send the order a 'copy' decision calls for — saved pending first, at most once."""
    d = ledger.decision(trade.trade_key)
    if d is not None and d["decision"] == "copy":
        details = json.loads(d["details"])
        order_id = client_order_id(trade.trade_key)
        order_type = "FOK" if trade.side == "BUY" else "FAK"
        if ledger.create_pending_order(order_id, trade.trade_key, venue.name, trade.token_id, trade.condition_id,
                                       trade.side, order_type, details["limit_price"], details["shares"]):
            ex = venue.place(order_id, trade.token_id, trade.side, details["shares"], details["limit_price"])
            _settle(ledger, order_id, trade.token_id, trade.side, ex)
    return _outcome(ledger, trade.trade_key, already=False)


def copy_trade(trade: Trade, *, ledger, clients, venue, rules: TradingRules, state: PortfolioState | None = None,
               followed_override: bool = False, run_id: str | None = None, now: float | None = None) -> CopyOutcome:
    """The whole chain for one source trade: assess the portfolio (unless given), decide,
    and place the order a copy decision calls for."""
    now = time.time() if now is None else now
    if state is None:
        state = assess_portfolio(ledger, clients, rules.risk, rules.signals, now=now, run_id=run_id)
    _, claimed = decide_trade(trade, ledger=ledger, clients=clients, rules=rules, state=state,
                              followed_override=followed_override, run_id=run_id, now=now)
    if not claimed:
        return _outcome(ledger, trade.trade_key, already=True)
    return place_order(trade, ledger=ledger, venue=venue)


def _settle(ledger, order_id: str, token_id: str, side: str, ex) -> None:
    fills = []
    if ex.filled_shares > 0:
        total = ex.filled_shares
        for i, (price, shares) in enumerate(ex.levels):
            fee_share = ex.fee_usd * shares / total if total else 0.0
            fills.append((f"{order_id}-{i}", token_id, side, float(price), float(shares), fee_share))
    ledger.settle_order(order_id, ex.status, ex.reason, None, fills)


def reconcile_pending(ledger, venue, older_than_s: float, now: float | None = None) -> list[dict]:
    """Settle pending orders older than ``older_than_s`` from the venue's own record.

    An order the venue never received is cancelled, not re-sent.
    """
    now = time.time() if now is None else now
    done = []
    for order in ledger.pending_orders():
        if now - order["created_at"] < older_than_s:
            continue
        ex = venue.lookup(order["order_id"])
        if ex is None:
            ledger.settle_order(order["order_id"], "cancelled", "not found at the venue after a restart; not re-sent",
                                None, [])
            done.append({"order_id": order["order_id"], "status": "cancelled"})
        else:
            _settle(ledger, order["order_id"], order["token_id"], order["side"], ex)
            done.append({"order_id": order["order_id"], "status": ex.status})
    return done


def _outcome(ledger, trade_key: str, already: bool) -> CopyOutcome:
    d = ledger.decision(trade_key)
    o = ledger.order_for_trade(trade_key)
    fills = ledger.fills_for_order(o["order_id"]) if o else []
    shares = sum(f["shares"] for f in fills)
    avg = sum(f["price"] * f["shares"] for f in fills) / shares if shares else None
    return CopyOutcome(
        trade_key=trade_key, decision=d["decision"], stage=d["stage"], reason=d["reason"],
        order_id=o["order_id"] if o else None, order_status=o["status"] if o else None,
        filled_shares=shares, avg_price=avg, fee_usd=sum(f["fee_usd"] for f in fills), already_decided=already,
    )
