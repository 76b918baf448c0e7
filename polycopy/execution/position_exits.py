"""Every copied position closes: by an exit rule, or by settlement when its market resolves.

A *review* looks at each open position at the venue — its market record (end date,
resolution), its book and its price history (ATR, the high since entry) — and:
- settles a position whose market has resolved, at the payout (1, 0, 0.5 void), crediting
  the cash and booking the realized P&L; settling twice changes nothing;
- raises the trailing stop if it can rise (it never falls);
- names the positions an exit rule fires for (:mod:`polycopy.trading.exit_rules`).

An exit is then decided once per (position, pass): ``decide_position_exit`` observes the
position afresh, records *sell* (rule, reason, trigger values, shares, limit) or *hold*
(nothing fires any more, or trading is halted), and ``place_exit_order`` sends a
fill-and-kill SELL at the best bid minus the tolerance, never for more than is held less
pending sells. An unfilled remainder is looked at again on the next pass. Exits never pass
the entry gates. USD throughout; prices USD/share; times unix seconds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from polycopy.execution.paper import record_execution
from polycopy.execution.portfolio_state import HISTORY_FIDELITY_MIN
from polycopy.polymarket.http import ApiError
from polycopy.polymarket.markets import Resolution, parse_market, resolve_market
from polycopy.polymarket.schema import RecordError
from polycopy.trading.exit_rules import (DAY, RESOLVED, ExitTrigger, PositionView, SourceExit, average_true_range,
                                         choose_exit, daily_ranges, shares_to_sell, trailing_stop_level, triggers)
from polycopy.trading.portfolio import FillRow, Position, walk_positions
from polycopy.trading.settings import ExitSettings
from polycopy.ledger.store import exit_key



@dataclass(frozen=True)
class Observation:
    """An open position as the venue shows it now."""

    view: PositionView
    best_bid: float | None = None
    tick_size: float = 0.01
    min_order_size: float = 0.0
    closed: bool = False  # the market no longer trades
    resolution: Resolution | None = None  # this token's, once the market has resolved
    problems: tuple[str, ...] = ()  # what could not be observed (the rules that need it stay quiet)


@dataclass
class Review:
    """What one pass over the open positions found."""

    settled: list[dict] = field(default_factory=list)  # position_id, token_id, shares, payout, pnl...
    resolved: list[dict] = field(default_factory=list)  # positions in resolved markets left to settle
    exits: list[tuple[Position, int, ExitTrigger]] = field(default_factory=list)  # (position, pass to run, rule)
    waiting: list[dict] = field(default_factory=list)  # position_id, why nothing can be done yet
    observed: int = 0


def positions(ledger) -> list[Position]:
    """Every position the ledger's fills describe (open and closed), oldest first."""
    return walk_positions([FillRow(**r) for r in ledger.fill_rows()])[0]


def open_positions(ledger) -> list[Position]:
    return [p for p in positions(ledger) if p.is_open]


def _market(clients, condition_id: str):
    rec = clients.gamma.market(condition_id)
    return None if rec is None else parse_market(rec)


def observe(ledger, clients, pos: Position, rules: ExitSettings, now: float, removed: dict | None = None,
            ratchet: bool = True) -> Observation:
    """Look at ``pos`` at the venue now. With ``ratchet``, the high since entry and the
    trailing stop are raised in the ledger when they can rise."""
    problems: list[str] = []
    end_ts = None
    closed = False
    resolution = None
    try:
        market = _market(clients, pos.condition_id)
    except (ApiError, RecordError) as exc:
        market = None
        problems.append(f"market record: {exc}")
    if market is not None:
        end_ts = market.end_ts
        closed = bool(market.closed)
        try:
            resolution = next((r for r in resolve_market(market) or [] if r.token_id == pos.token_id), None)
        except RecordError as exc:
            problems.append(f"resolution: {exc}")
    best_bid = mark = None
    tick, min_size = 0.01, 0.0
    if not closed:
        try:
            book = clients.clob.book(pos.token_id)
            best_bid, tick, min_size = book.best_bid, book.tick_size or 0.01, book.min_order_size
            if book.best_bid is not None and book.best_ask is not None:
                mark = (book.best_bid + book.best_ask) / 2.0
        except ApiError as exc:
            problems.append(f"order book: {exc}")
    # The ATR is of daily ranges: computed once a UTC day (and at the first look, which also
    # finds the high since entry in the history); in between, the high is the marks seen.
    stored = ledger.position_mark(pos.position_id) or {}
    atr, atr_at, seen = stored.get("atr"), None, []
    if not closed and (stored.get("atr_at") is None or int(stored["atr_at"]) // DAY != int(now) // DAY):
        history: dict = {}
        try:
            start = int(min(pos.opened_at, now - (rules.atr_days + 2) * DAY))
            history = clients.clob.prices_history(pos.token_id, start, int(now), HISTORY_FIDELITY_MIN).points
        except ApiError as exc:
            problems.append(f"price history: {exc}")
        if history:
            atr = average_true_range(daily_ranges(history, before_ts=now), rules.atr_days, rules.atr_min_days)
            atr_at = now
        seen = [float(p) for ts, p in history.items() if float(ts) >= pos.opened_at]
    if mark is not None:
        seen.append(mark)
    high = _max(stored.get("high_water"), max(seen) if seen else None)
    trail = trailing_stop_level(stored.get("trail_stop"), high, atr, pos.avg_cost or 0.0,
                                rules.trailing_atr_multiple)
    if ratchet and (high is not None or trail is not None or atr_at is not None):
        ledger.ratchet_position_mark(pos.position_id, pos.token_id, high, trail, atr, atr_at)
    view = PositionView(pos.position_id, pos.token_id, pos.condition_id, pos.shares, pos.avg_cost or 0.0,
                        pos.opened_at, mark, end_ts, high, trail, atr, dict(pos.wallets),
                        dict(removed if removed is not None else ledger.removed_wallets()))
    return Observation(view, best_bid, tick, min_size, closed, resolution, tuple(problems))


def _max(a, b):
    return b if a is None else (a if b is None else max(a, b))


def _settle(ledger, pos: Position, resolution: Resolution, now: float, redeem=None) -> dict | None:
    """Settle an open position at its token's payout; None if nothing was settled (settled
    before, nothing held, or a SELL still pending). ``redeem(condition_id)``, when given,
    first redeems the market's tokens at the venue (live trading); redeeming twice is
    harmless, so a crash between the two steps is mended by the next pass."""
    if redeem is not None:
        redeem(pos.condition_id)
    kind = "void" if resolution.is_void else ("won" if resolution.is_winner else "lost")
    reason = (f"market resolved ({kind}{', early' if resolution.early else ''}): {pos.shares:.2f} shares at "
              f"{resolution.payout:g}")
    shares = ledger.record_settlement(pos.position_id, pos.token_id, pos.condition_id, resolution.payout, reason)
    if shares <= 0:
        return None
    avg = pos.avg_cost or 0.0
    return {"position_id": pos.position_id, "token_id": pos.token_id, "condition_id": pos.condition_id,
            "shares": shares, "payout": resolution.payout, "outcome": kind, "early": resolution.early,
            "pnl_usd": (resolution.payout - avg) * shares, "rule": RESOLVED}


def review_positions(ledger, clients, rules: ExitSettings, now: float | None = None, settle: bool = True,
                     redeem=None) -> Review:
    """One pass over the open positions: settle the resolved ones (or, without ``settle``,
    list them), raise trailing stops, and list the exits the rules call for (a position
    whose last exit is unfinished waits)."""
    now = time.time() if now is None else now
    out = Review()
    positions = open_positions(ledger)
    if not positions:
        return out
    progress = ledger.exit_progress()
    removed = ledger.removed_wallets()
    for pos in positions:
        obs = observe(ledger, clients, pos, rules, now, removed)
        out.observed += 1
        if obs.resolution is not None:
            done = _settle(ledger, pos, obs.resolution, now, redeem) if settle else None
            if done is not None:
                out.settled.append(done)
            else:
                out.resolved.append({"position_id": pos.position_id, "token_id": pos.token_id,
                                     "why": "resolved; not settled yet" if not settle else
                                     "resolved; a SELL of it is still pending"})
            continue
        if obs.closed:
            out.waiting.append({"position_id": pos.position_id, "why": "market closed, not resolved yet"})
            continue
        p = progress.get(pos.position_id, {"next_seq": 1, "unfinished": False})
        if p.get("order_missing"):  # its run died after deciding: that pass is run again to send (or expire) it
            out.exits.append((pos, p["last_seq"], ExitTrigger(p["rule"], 1.0, "sell decided, order not sent yet")))
            continue
        if p["unfinished"]:
            out.waiting.append({"position_id": pos.position_id, "why": "its last exit order is pending"})
            continue
        chosen = choose_exit(triggers(obs.view, now, rules))
        if chosen is not None:
            out.exits.append((pos, p["next_seq"], chosen))
    return out


def settle_resolved(ledger, clients, rules: ExitSettings, now: float | None = None, redeem=None
                    ) -> tuple[list[dict], list[dict]]:
    """Settle every open position whose market the venue shows resolved (redeeming it at the
    venue first with ``redeem(condition_id)`` when given). Returns (what was settled, the
    positions still open in a resolved market afterwards, with why)."""
    now = time.time() if now is None else now
    settled = review_positions(ledger, clients, rules, now=now, redeem=redeem).settled
    left = []
    for pos in open_positions(ledger):
        try:
            market = _market(clients, pos.condition_id)
            resolved = market is not None and resolve_market(market) is not None
        except (ApiError, RecordError) as exc:
            left.append({"position_id": pos.position_id, "why": f"market record unreadable: {exc}"})
            continue
        if resolved:
            left.append({"position_id": pos.position_id, "why": "resolved, still open (a SELL of it is pending)"})
    return settled, left


def exit_limit(best_bid: float, tick: float, tolerance: float) -> float:
    """The SELL's limit: the best bid less the tolerance, on the tick grid, at least one tick."""
    steps = int((best_bid - tolerance) / tick + 1e-9)
    return round(max(steps * tick, tick), 6)


def plan_exit(obs: Observation, trigger: ExitTrigger | None, rules: ExitSettings, halt_reasons=()) -> dict:
    """What an exit pass decides for an observed position: ``decision`` sell or hold, the
    rule, the reason, the trigger values, shares and limit."""
    v = obs.view
    if trigger is None:
        return {"decision": "hold", "rule": "none", "reason": "no exit rule fires now", "values": {}, "shares": 0.0,
                "limit_price": None}
    values = dict(trigger.values, fraction=trigger.fraction, best_bid=obs.best_bid, problems=list(obs.problems))
    hold = lambda why: {"decision": "hold", "rule": trigger.rule, "reason": why, "values": values,  # noqa: E731
                        "shares": 0.0, "limit_price": None}
    if halt_reasons:
        return hold("trading halted: " + "; ".join(halt_reasons) + " (looked at again on the next pass)")
    if obs.best_bid is None:
        return hold("no bids to exit into")
    shares = shares_to_sell(v.shares, trigger.fraction, obs.min_order_size)
    if shares <= 0:
        return hold(f"{v.shares:.2f} shares × {trigger.fraction:.1%} is below the minimum order of "
                    f"{obs.min_order_size:g} shares")
    limit = exit_limit(obs.best_bid, obs.tick_size, rules.exit_limit_tolerance)
    return {"decision": "sell", "rule": trigger.rule, "reason": trigger.reason, "values": values,
            "shares": shares, "limit_price": limit}


def decide_position_exit(ledger, clients, position_id: str, seq: int, rules: ExitSettings, *,
                         halt_reasons=(), run_id: str | None = None, now: float | None = None) -> tuple[dict, bool]:
    """Decide exit pass ``seq`` of a position once: observe it afresh and record sell or
    hold. Returns (the decision row, True if this call made it). A position no longer open
    is recorded as hold ("closed")."""
    now = time.time() if now is None else now
    key = exit_key(position_id, seq)
    existing = ledger.exit_decision(key)
    if existing is not None:
        return existing, False
    pos = next((p for p in open_positions(ledger) if p.position_id == position_id), None)
    if pos is None:
        plan = {"decision": "hold", "rule": "none", "reason": "the position is no longer open", "values": {},
                "shares": 0.0, "limit_price": None}
        token = condition = ""
        closed = next((p for p in positions(ledger) if p.position_id == position_id), None)
        if closed is not None:
            token, condition = closed.token_id, closed.condition_id
    else:
        obs = observe(ledger, clients, pos, rules, now)
        plan = plan_exit(obs, choose_exit(triggers(obs.view, now, rules)), rules, tuple(halt_reasons))
        token, condition = pos.token_id, pos.condition_id
        plan["values"] = dict(plan["values"], held_shares=pos.shares, avg_cost=pos.avg_cost, high_water=obs.view.high_water,
                              trail_stop=obs.view.trail_stop, atr=obs.view.atr, end_ts=obs.view.end_ts)
    claimed = ledger.claim_exit_decision(position_id, seq, token, condition, plan["decision"], plan["rule"],
                                         plan["reason"], plan["values"], plan["shares"], plan["limit_price"], run_id)
    return ledger.exit_decision(key), claimed


def exit_order_id(exit_key: str) -> str:
    """Client order id of the SELL an exit decision calls for."""
    return f"pc-{exit_key}"[:64]


def place_exit_order(ledger, venue, key: str, order_deadline_s: float = 300.0) -> dict | None:
    """Send the SELL a *sell* exit decision calls for, at most once (saved pending first,
    capped at what is held less pending sells). Returns the order row, or None for a hold."""
    d = ledger.exit_decision(key)
    if d is None or d["decision"] != "sell":
        return None
    if ledger.order_for(key) is None:
        order_id = exit_order_id(key)
        age = ledger.clock() - float(d["decided_at"])
        if age > order_deadline_s:
            ledger.create_pending_order(order_id, key, venue.name, d["token_id"], d["condition_id"], "SELL", "FAK",
                                        d["limit_price"], d["shares"], status="expired",
                                        reason=f"not sent: decided {age:.0f} s ago (max {order_deadline_s:.0f} s)")
        else:
            created, shares = ledger.create_sell_order(order_id, key, venue.name, d["token_id"], d["condition_id"],
                                                       "FAK", float(d["limit_price"]), float(d["shares"]))
            if created:
                ex = venue.place(order_id, d["token_id"], "SELL", float(d["limit_price"]), shares=shares)
                record_execution(ledger, order_id, d["token_id"], "SELL", ex)
    return ledger.order_for(key)


def source_exit_of(ledger, signal) -> SourceExit:
    """The source wallet's sale behind a SELL signal, as a fraction of its position in the
    token: what it sold against what it still holds by the fills we saw of it (a wallet
    selling shares we never saw it buy is taken to sell all it holds)."""
    t = signal.first
    seen = ledger.wallet_token_fills(t.proxy_wallet, t.token_id)
    held = 0.0
    keys = {f.trade_key for f in signal.fills}
    for r in seen:  # oldest first; the signal's own fills excluded
        if r["trade_key"] in keys or r["trade_ts"] > t.timestamp:
            continue
        held += float(r["size"]) if r["side"] == "BUY" else -float(r["size"])
    remaining = max(held - signal.shares, 0.0)
    return SourceExit(t.proxy_wallet, signal.shares, remaining)


def describe(decision: dict) -> str:
    """One line for logs: the rule, sell or hold, the reason."""
    details = json.loads(decision["details"]) if isinstance(decision.get("details"), str) else {}
    return (f"{decision['position_id']} pass {decision['seq']}: {decision['decision']} by {decision['rule']} — "
            f"{decision['reason']}" + (f" ({decision['shares']:.2f} shares at ≥ {decision['limit_price']})"
                                       if decision["decision"] == "sell" else "")
            + (f"; also fired: {', '.join(details['also_fired'])}" if details.get("also_fired") else ""))


def exit_rules_of_orders(ledger) -> dict[str, str]:
    """The rule behind each order that sold from a position: order id -> rule (``resolved``
    for a settlement)."""
    out = {}
    for o in ledger.orders():
        if o["side"] != "SELL":
            continue
        key = o["decision_key"]
        if o["venue"] == "settlement":
            out[o["order_id"]] = RESOLVED
        elif (e := ledger.exit_decision(key)) is not None:
            out[o["order_id"]] = e["rule"]
        elif (d := ledger.decision(key)) is not None:
            out[o["order_id"]] = json.loads(d["details"]).get("rule", "mirror")
    return out


def position_report(ledger, marks: dict | None = None) -> list[dict]:
    """Every position, open and closed: entry, exits, the rules that closed it, realized P&L
    (USD) and, for an open one with a mark, the unrealized P&L at that mark."""
    rules = exit_rules_of_orders(ledger)
    fills = [FillRow(**r) for r in ledger.fill_rows()]
    by_order: dict[str, list[FillRow]] = {}
    for f in fills:
        by_order.setdefault(f.order_id, []).append(f)
    rows = []
    for p in walk_positions(fills)[0]:
        sold = [f for o in p.exit_orders for f in by_order.get(o, []) if f.side == "SELL"]
        q = sum(f.shares for f in sold)
        mark = (marks or {}).get(p.token_id)
        rows.append({
            "position_id": p.position_id, "token_id": p.token_id, "condition_id": p.condition_id,
            "state": "open" if p.is_open else "closed", "opened_at": p.opened_at, "closed_at": p.closed_at,
            "bought_shares": p.bought_shares, "entry_price": p.entry_price, "sold_shares": p.sold_shares,
            "exit_price": sum(f.price * f.shares for f in sold) / q if q else None,
            "rules": ", ".join(dict.fromkeys(rules.get(o, "?") for o in p.exit_orders)),
            "held_shares": p.shares, "fees_usd": p.fees_usd, "realized_pnl_usd": p.realized_pnl_usd,
            "unrealized_pnl_usd": (mark - (p.avg_cost or 0.0)) * p.shares if mark is not None and p.is_open else None,
            "wallets": ", ".join(sorted(p.wallets)),
        })
    return rows
