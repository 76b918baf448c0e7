"""Copy one source signal (one whale order, however many fills), at most once.

Order of operations (each step durable before the next):
1. every fill the feed shows is recorded as seen and joined to its signal (the ledger);
2. the decision on the signal — the risk gate, stages 1–3 and sizing for a BUY, seeing the
   order's total size and average price; the mirrored exit for a SELL; copy or skip, with
   the stage, the reason, the values behind it and the fills — is claimed in the ledger:
   a signal is decided once, whatever retries and relaunches happen;
3. a copy order is saved as *pending* before it is sent;
4. the venue's answer (fills, fee, status) settles the order.
A pending order left by a crash is reconciled with the venue by its client order
id and never blindly re-sent.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from polycopy.execution.paper import record_execution, taker_fee_usd
from polycopy.execution.portfolio_state import PortfolioState, assess_portfolio
from polycopy.execution.position_exits import observe, open_positions, plan_exit, source_exit_of
from polycopy.polymarket.http import ApiError
from polycopy.polymarket.clients import market_with_event_tags
from polycopy.polymarket.markets import parse_market
from polycopy.polymarket.schema import RecordError, Trade
from polycopy.trading.limits import limit_breaches
from polycopy.trading.portfolio import FillRow
from polycopy.trading.exit_rules import choose_exit, triggers
from polycopy.trading.settings import ExitSettings, RiskSettings, SignalSettings, SizingSettings
from polycopy.trading.signals import (Decision, MarketView, WhaleProfile, WhaleTrade, decide_buy,
                                      needs_market_data)


@dataclass(frozen=True)
class TradingRules:
    """Everything a copy decision follows: the signal stages, sizing, risk limits, the exit
    rules, the taker fee rate (fee = shares × rate × p × (1 − p)) and when pending orders
    are reconciled (s)."""

    signals: SignalSettings = SignalSettings()
    sizing: SizingSettings = SizingSettings()
    risk: RiskSettings = RiskSettings()
    exits: ExitSettings = ExitSettings()
    fee_rate: float = 0.05
    reconcile_after_s: float = 60.0


@dataclass(frozen=True)
class CopyOutcome:
    signal_key: str
    decision: str  # copy | skip
    stage: str
    reason: str
    order_id: str | None = None
    order_status: str | None = None
    order_reason: str | None = None  # why an order was not filled: the venue's own words for a rejection
    filled_shares: float = 0.0
    avg_price: float | None = None
    fee_usd: float = 0.0
    already_decided: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def client_order_id(signal_key: str) -> str:
    """Deterministic client order id of the copy of a source signal."""
    return f"pc-{signal_key[:24]}"


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


@dataclass(frozen=True)
class SourceSignal:
    """One whale order: the fills of one wallet on one token and side that the ledger grouped
    (one transaction, or within the aggregation window). Shares are summed; the price is
    the fills' volume-weighted average (USD/share); its time is its first fill's (unix s)."""

    signal_key: str
    fills: tuple[Trade, ...]
    first_seen_at: float

    @property
    def first(self) -> Trade:
        return self.fills[0]

    @property
    def shares(self) -> float:
        return sum(f.size for f in self.fills)

    @property
    def price(self) -> float:
        shares = self.shares
        return sum(f.size * f.price for f in self.fills) / shares if shares > 0 else self.first.price

    def whale_trade(self) -> WhaleTrade:
        f = self.first
        return WhaleTrade(f.proxy_wallet, f.token_id, f.condition_id, self.price, self.shares, f.timestamp)

    def fills_listed(self) -> list[dict]:
        return [{"trade_key": f.trade_key, "ts": f.timestamp, "shares": f.size, "price": f.price,
                 "transaction_hash": f.transaction_hash} for f in self.fills]


def load_signal(ledger, signal_key: str) -> SourceSignal:
    """The signal as the ledger holds it now, fills oldest first."""
    sig = ledger.signal(signal_key)
    if sig is None:
        raise KeyError(f"no signal {signal_key!r} in the ledger")
    fills = tuple(Trade(**json.loads(r["payload"])) for r in ledger.signal_fills(signal_key))
    return SourceSignal(signal_key, fills, float(sig["first_seen_at"]))


def decide_exit(signal: SourceSignal, ledger, clients, state: PortfolioState, rules: "TradingRules",
                now: float) -> Decision:
    """A source wallet's SELL: mirror it in proportion to the fraction of its position it sold
    (the exit rules decide, in their precedence: a stop or another full exit that fires now
    sells everything). Fill-and-kill at the best bid less the tolerance; never skipped for
    price or age. A halt (kill switch, breaker, mVaR) stops exits too: while it lasts no
    order of any kind goes out."""
    token = signal.first.token_id
    v: dict = {"whale_price": signal.price, "whale_shares": signal.shares}
    if state.halted:
        v["halt_reasons"] = list(state.halt_reasons)
        return Decision("skip", "risk", "trading halted: " + "; ".join(state.halt_reasons), v)
    pos = next((p for p in open_positions(ledger) if p.token_id == token), None)
    v["held_shares"] = pos.shares if pos is not None else 0.0
    if pos is None:
        pending = state.provisional_shares(token)
        why = ("the copy of its BUY decided in this run is not filled yet" if pending > 0 else
               "no position in this token to exit")
        return Decision("skip", "exit", why, v)
    obs = observe(ledger, clients, pos, rules.exits, now)
    source = source_exit_of(ledger, signal)
    trigger = choose_exit(triggers(obs.view, now, rules.exits, source))
    v.update(position_id=pos.position_id, whale_sold_fraction=source.fraction,
             whale_remaining_shares=source.remaining_shares)
    if trigger is None:
        why = ("mirroring exits is switched off" if not rules.exits.mirror_exits else
               f"the source wallet bought none of this position (bought by {', '.join(sorted(pos.wallets)) or '-'})")
        return Decision("skip", "exit", why, v)
    plan = plan_exit(obs, trigger, rules.exits)
    v.update(plan["values"], rule=plan["rule"])
    if plan["decision"] != "sell":
        return Decision("skip", "exit", f"{plan['rule']}: {plan['reason']}", v)
    v.update(shares=plan["shares"], limit_price=plan["limit_price"])
    return Decision("copy", "exit", f"{plan['rule']}: {plan['reason']}", v, shares=plan["shares"],
                    limit_price=plan["limit_price"])


def _stop_at_entry(d: Decision, market, rules: "TradingRules") -> Decision:
    """Refuse a copy whose own stop-loss would fire as soon as it filled: the mid (what the
    position is marked at) already that far under our cost per share, fee included — a
    spread too wide for the price, as on penny outcomes."""
    ex = rules.exits
    bids, asks = market.bids, market.asks
    if not ex.stop_loss or not bids or not asks or not d.shares:
        return d
    mid = (bids[0][0] + asks[0][0]) / 2.0
    fill = float(d.values.get("expected_fill_price") or asks[0][0])
    cost = fill + taker_fee_usd(1.0, fill, rules.fee_rate)
    if mid <= cost * (1.0 - ex.stop_loss_fraction) + 1e-12:
        v = dict(d.values, mark_at_entry=mid, cost_per_share=cost)
        return Decision("skip", "stage2_trade", f"the stop-loss would fire at entry: the mid {mid:.4f} is "
                        f"{mid / cost - 1:+.1%} from our cost {cost:.4f} (stop at −{ex.stop_loss_fraction:.0%})", v)
    return d


def _with_backlog(d: Decision, signal: SourceSignal, sig: SignalSettings, now: float) -> Decision:
    """Say so when a signal is rejected as stale only because of our own delay: it was fresh
    when the feed showed it and aged while it waited for us (a backlog, an outage)."""
    feed_lag = signal.first_seen_at - signal.first.timestamp
    backlog = now - signal.first_seen_at
    values = dict(d.values, feed_lag_s=feed_lag, backlog_s=backlog)
    reason = d.reason
    if d.stage == "stage2_trade" and reason.startswith("stale") and feed_lag <= sig.max_trade_age_s:
        reason = (f"stale because of our own backlog: the order was {feed_lag:.0f} s old when the feed showed it "
                  f"and {now - signal.first.timestamp:.0f} s old when decided, {backlog:.0f} s after it was seen "
                  f"(max {sig.max_trade_age_s:.0f} s)")
    return Decision(d.decision, d.stage, reason, values, d.shares, d.limit_price, d.usd)


def decide_signal(signal: SourceSignal, *, ledger, clients, rules: TradingRules, state: PortfolioState,
                  followed_override: bool = False, run_id: str | None = None, now: float | None = None
                  ) -> tuple[dict, bool, PortfolioState]:
    """Decide a signal once and record the decision, its values and its fills.

    Returns (the decision row, True if this call made it, the portfolio state with this
    decision's order counted provisionally, so that the next decision of the same run sizes
    against it). A signal decided before (by an earlier run, a retry or a concurrent run)
    keeps its first decision.
    """
    now = time.time() if now is None else now
    existing = ledger.decision(signal.signal_key)
    if existing is not None:
        return existing, False, state
    first = signal.first
    category = event_slug = ""
    if first.side == "BUY":
        whale = whale_profile(ledger, first.proxy_wallet)
        lookback = max(rules.signals.correlation_lookback_days, rules.risk.mvar_lookback_days)
        wt = signal.whale_trade()
        # Only signals that pass the gates needing no market data cost a round of requests.
        fetch = needs_market_data(wt, whale, followed_override, state.halt_reasons, rules.signals, now)
        market, why = market_view(clients, first, lookback, now) if fetch else (None, "")
        copies = ledger.wallet_copies_since(first.proxy_wallet, now - now % 86_400)
        d = decide_buy(wt, whale, followed_override, market, state.view(copies), rules.signals, rules.sizing,
                       rules.fee_rate, now)
        if market is None and why and d.stage == "stage2_trade":
            d = Decision(d.decision, d.stage, f"{d.reason}: {why}", d.values)
        if d.decision == "copy" and market is not None:
            d = _stop_at_entry(d, market, rules)
        if d.decision == "copy" and market is not None:
            category, event_slug = market.category, market.event_slug
            ledger.remember_market(market.condition_id, market.category, market.event_slug, market.end_ts, None)
        d = _with_backlog(d, signal, rules.signals, now)
    else:
        d = decide_exit(signal, ledger, clients, state, rules, now)
    details = dict(d.values, shares=d.shares, limit_price=d.limit_price) if d.decision == "copy" else dict(d.values)
    details.update(fills=signal.fills_listed(), fill_count=len(signal.fills), signal_shares=signal.shares,
                   signal_price=signal.price)
    claimed = ledger.claim_decision(signal.signal_key, d.decision, d.stage, d.reason, details, run_id)
    if claimed and d.decision == "copy":
        state = state.with_provisional(FillRow(
            ts=now, order_id=client_order_id(signal.signal_key), token_id=first.token_id,
            condition_id=first.condition_id, side=first.side, price=d.limit_price, shares=d.shares,
            fee_usd=taker_fee_usd(d.shares, d.limit_price, rules.fee_rate), wallet=first.proxy_wallet,
            category=category, event_slug=event_slug))
    return ledger.decision(signal.signal_key), claimed, state


def place_signal_order(signal_key: str, *, ledger, venue, order_deadline_s: float = 300.0) -> CopyOutcome:
    """Send the order a 'copy' decision calls for — saved pending first, at most once. A
    decision whose order could not be sent within ``order_deadline_s`` of it (a run that
    died, an outage) is closed as expired, never sent late at a stale price. An exit never
    sells more than we hold when it is sent."""
    d = ledger.decision(signal_key)
    if d is None or d["decision"] != "copy" or ledger.order_for(signal_key) is not None:
        return _outcome(ledger, signal_key)
    sig = ledger.signal(signal_key)
    details = json.loads(d["details"])
    order_id = client_order_id(signal_key)
    side, token = sig["side"], sig["token_id"]
    order_type = "FOK" if side == "BUY" else "FAK"
    shares = float(details["shares"])
    args = (order_id, signal_key, venue.name, token, sig["condition_id"], side, order_type,
            details["limit_price"])
    age = ledger.clock() - float(d["decided_at"])  # decisions are stamped with the ledger's clock
    if age > order_deadline_s:
        ledger.create_pending_order(*args, shares, status="expired",
                                    reason=f"not sent: decided {age:.0f} s ago (max {order_deadline_s:.0f} s)")
        return _outcome(ledger, signal_key)
    if side == "SELL":  # never more than is held less what pending sells may still sell
        created, shares = ledger.create_sell_order(order_id, signal_key, venue.name, token, sig["condition_id"],
                                                   order_type, details["limit_price"], shares)
        if created:
            record_execution(ledger, order_id, token, side,
                             venue.place(order_id, token, side, details["limit_price"], shares=shares))
        return _outcome(ledger, signal_key)
    if ledger.create_pending_order(*args, shares):  # a BUY spends the decided amount, up to its limit
        usd = float(details.get("notional_usd") or shares * float(details["limit_price"]))
        ex = venue.place(order_id, token, side, details["limit_price"], usd=usd)
        record_execution(ledger, order_id, token, side, ex)
    return _outcome(ledger, signal_key)


def recount_limits(orders: list[tuple[SourceSignal, dict]], state: PortfolioState, rules: TradingRules
                   ) -> dict[str, list[str]]:
    """The independent recount behind ``signal_within_limits``: each order about to be sent
    (a copy decision without an order), in decision order, against the portfolio with the
    orders before it counted. Returns the breaches by signal key (empty lists omitted)."""
    out: dict[str, list[str]] = {}
    for signal, decision in orders:
        d = json.loads(decision["details"])
        t = signal.first
        breaches = limit_breaches(
            t.side, float(d.get("notional_usd", 0.0)), t.condition_id, d.get("category", ""), t.proxy_wallet,
            float(d.get("tier_max_exposure", 0.0)), state.portfolio, state.halt_reasons, rules.signals,
            rules.sizing, shares=float(d.get("shares", 0.0)),
            held_shares=float(d.get("held_shares", 0.0)))
        if breaches:
            out[signal.signal_key] = breaches
        state = state.with_provisional(FillRow(
            ts=state.ts, order_id=signal.signal_key, token_id=t.token_id, condition_id=t.condition_id, side=t.side,
            price=float(d.get("limit_price", 0.0)), shares=float(d.get("shares", 0.0)), fee_usd=0.0,
            wallet=t.proxy_wallet, category=d.get("category", "")))
    return out


def expire_unsent_copies(ledger, order_deadline_s: float, now: float | None = None) -> list[str]:
    """Close the copy decisions whose order was never sent within ``order_deadline_s`` (their
    runs died and no relaunch came in time) as expired orders, so none is sent late and none
    stays open. Returns their signal keys."""
    closed = []
    for d in ledger.unsent_copies(order_deadline_s, now=now):
        details = json.loads(d["details"])
        age = (ledger.clock() if now is None else now) - float(d["decided_at"])
        if ledger.create_pending_order(client_order_id(d["signal_key"]), d["signal_key"], "none", d["token_id"],
                                       d["condition_id"], d["side"], "none", float(details.get("limit_price", 0.0)),
                                       float(details.get("shares", 0.0)), status="expired",
                                       reason=f"not sent: decided {age:.0f} s ago (max {order_deadline_s:.0f} s)"):
            closed.append(d["signal_key"])
    return closed


def copy_trade(trade: Trade, *, ledger, clients, venue, rules: TradingRules, state: PortfolioState | None = None,
               followed_override: bool = False, run_id: str | None = None, now: float | None = None,
               window_s: float = 1.0) -> CopyOutcome:
    """The whole chain for one source fill: record it, assess the portfolio (unless given),
    decide its signal and place the order a copy decision calls for."""
    now = time.time() if now is None else now
    ledger.record_seen_trades([trade], seen_at=now, window_s=window_s)
    key = ledger.signal_of_trade(trade.trade_key)
    if state is None:
        state = assess_portfolio(ledger, clients, rules.risk, rules.signals, now=now, run_id=run_id)
    _, claimed, _ = decide_signal(load_signal(ledger, key), ledger=ledger, clients=clients, rules=rules,
                                  state=state, followed_override=followed_override, run_id=run_id, now=now)
    if not claimed:
        return _outcome(ledger, key, already=True)
    return place_signal_order(key, ledger=ledger, venue=venue)


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
            record_execution(ledger, order["order_id"], order["token_id"], order["side"], ex)
            done.append({"order_id": order["order_id"], "status": ex.status})
    return done


def _outcome(ledger, signal_key: str, already: bool = False) -> CopyOutcome:
    d = ledger.decision(signal_key)
    o = ledger.order_for(signal_key)
    fills = ledger.fills_for_order(o["order_id"]) if o else []
    shares = sum(f["shares"] for f in fills)
    avg = sum(f["price"] * f["shares"] for f in fills) / shares if shares else None
    return CopyOutcome(
        signal_key=signal_key, decision=d["decision"], stage=d["stage"], reason=d["reason"],
        order_id=o["order_id"] if o else None, order_status=o["status"] if o else None,
        order_reason=o["reason"] if o else None,
        filled_shares=shares, avg_price=avg, fee_usd=sum(f["fee_usd"] for f in fills), already_decided=already,
    )
