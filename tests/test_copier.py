"""Paper fills, fees and the at-most-once copy flow, on SQLite and on PostgreSQL.

The venue's market data is fixed here (a fake of the outside world); the decision chain,
the ledger and the paper venue are the real ones.
"""

import dataclasses
import json
import threading

import pytest

from polycopy.execution.copier import TradingRules, client_order_id, copy_trade, reconcile_pending
from polycopy.execution.position_exits import open_positions
from polycopy.execution.paper import PaperVenue, match_against_book, taker_fee_usd
from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy.polymarket.clients import BookLevel, OrderBook, PriceHistory
from polycopy.polymarket.http import ApiError
from polycopy.polymarket.schema import Trade, trade_key

TOKEN = "123456789"
OTHER = "987654321"
CONDITION = "0x" + "cd" * 32
NOW = 1_800_000_000.0
WALLET = "0x" + "ab" * 20
DEEP_ASKS = ((0.51, 5_000.0), (0.52, 5_000.0))


def book(bids=((0.49, 100.0), (0.48, 300.0)), asks=((0.51, 100.0), (0.52, 300.0)), min_size=5.0):
    return OrderBook(TOKEN, tuple(BookLevel(p, s) for p, s in bids), tuple(BookLevel(p, s) for p, s in asks),
                     0.01, min_size, False, None)


class FakeClob:
    """The CLOB's public market data, fixed for the test (the live CLOB is the outside world)."""

    def __init__(self, b):
        self.b = b
        self.calls = 0

    def book(self, token_id):
        self.calls += 1
        return self.b

    def midpoint(self, token_id):
        self.calls += 1
        return (self.b.best_bid + self.b.best_ask) / 2

    def prices_history(self, token_id, start_ts, end_ts, fidelity_min=60):
        self.calls += 1
        return PriceHistory({int(NOW) - 3600 * h: 0.5 for h in range(48)})


class FakeGamma:
    def __init__(self, end_ts=NOW + 30 * 86_400, liquidity=50_000):
        self.rec = {"id": "1", "conditionId": CONDITION, "question": "Q?", "slug": "q", "category": "sports",
                    "events": [{"slug": "ev"}], "endDate": "2027-02-01T00:00:00Z", "liquidity": str(liquidity),
                    "outcomes": json.dumps(["Yes", "No"]), "outcomePrices": json.dumps(["0.5", "0.5"]),
                    "clobTokenIds": json.dumps([TOKEN, OTHER]), "closed": False, "acceptingOrders": True}
        from datetime import datetime, timezone
        self.rec["endDate"] = datetime.fromtimestamp(end_ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def market(self, condition_id):
        if condition_id != CONDITION:
            raise ApiError("unknown market")
        return self.rec


class FakeClients:
    def __init__(self, b, gamma=None):
        self.clob = FakeClob(b)
        self.gamma = gamma or FakeGamma()


def make_trade(side="BUY", price=0.51, size=10_000.0, ts=None, n=0) -> Trade:
    """Fill ``n`` of its own whale order (its own transaction, 2 s after the one before)."""
    tx = "0x" + f"{n:064x}"
    ts = NOW - 100 + 2 * n if ts is None else ts
    return Trade(trade_key(tx, WALLET, TOKEN, side, size, price), tx, WALLET, side, TOKEN, CONDITION,
                 size, price, size * price, int(ts), "Yes", 0, None, None, None, None, None, "v1")


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request, tmp_path):
    if request.param == "sqlite":
        led = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=str(tmp_path / "ledger.sqlite")))
    else:
        led = open_ledger(LedgerSettings(backend="postgres", pg_dsn=request.getfixturevalue("pg_database")))
    member = {"wallet_address": WALLET, "position": 1, "wqs": 85.0, "wqs_lower": 80.0, "tier": "Expert",
              "tier_max_exposure": 0.10, "tier_max_daily_trades": 8}
    led.publish_watchlist([member], "2027-01-01")
    led.publish_wallet_profiles([dict(member, win_rate_posterior=0.75, excluded=False)], "2027-01-01")
    return led


RULES = TradingRules()


def run(t, ledger, clients, venue, **kw):
    return copy_trade(t, ledger=ledger, clients=clients, venue=venue, rules=RULES, now=NOW, **kw)


def test_taker_fee_formula():
    # 100 shares at 0.30 with rate 0.05: 100 × 0.05 × 0.30 × 0.70 = 1.05 USD.
    assert taker_fee_usd(100, 0.30, 0.05) == pytest.approx(1.05)


def test_fill_or_kill_buy_walks_levels_and_pays_fees():
    ex = match_against_book("o1", book(), "BUY", 150.0, 0.52, fee_rate=0.05, fill_or_kill=True)
    assert ex.status == "filled" and ex.levels == ((0.51, 100.0), (0.52, 50.0))
    # avg = (0.51·100 + 0.52·50) / 150 = 77 / 150
    assert ex.avg_price == pytest.approx(77 / 150)
    # fee = 100·0.05·0.51·0.49 + 50·0.05·0.52·0.48 = 1.2495 + 0.624
    assert ex.fee_usd == pytest.approx(1.8735)


def test_fill_or_kill_is_killed_when_depth_within_limit_is_short():
    ex = match_against_book("o2", book(), "BUY", 150.0, 0.51, fee_rate=0.05, fill_or_kill=True)
    assert ex.status == "rejected" and ex.filled_shares == 0 and "only 100.00 of 150.00" in ex.reason
    too_small = match_against_book("o3", book(), "BUY", 2.0, 0.60, fee_rate=0.05, fill_or_kill=True)
    assert too_small.status == "rejected" and "minimum order size" in too_small.reason


def test_fill_and_kill_sell_takes_what_is_there():
    ex = match_against_book("o4", book(), "SELL", 500.0, 0.48, fee_rate=0.05, fill_or_kill=False)
    assert ex.status == "partially_filled" and ex.filled_shares == 400.0
    assert ex.levels == ((0.49, 100.0), (0.48, 300.0))


def test_buy_is_sized_and_copied_once_decision_before_order(ledger):
    clients = FakeClients(book(asks=DEEP_ASKS))
    venue = PaperVenue(ledger, clients.clob, fee_rate=RULES.fee_rate)
    t = make_trade()
    out = run(t, ledger, clients, venue, run_id="r1")
    assert out.decision == "copy" and out.order_status == "filled", out
    # Kelly wants more than $1,000 here; the per-trade cap ($1,000 = 10 % of the $10,000 NAV) binds.
    d = json.loads(ledger.decision(t.trade_key)["details"])
    assert d["binding"] in ("per_trade_usd", "per_trade_fraction_usd") and d["size_usd"] == pytest.approx(1_000.0)
    # 1960.78 shares were decided at $999.9978; the FOK market BUY spends the whole cents of
    # it, $999.99, at 0.51, and the shares it buys are floored to 10⁻⁶.
    assert d["shares"] == pytest.approx(1960.78) and d["notional_usd"] == pytest.approx(1960.78 * 0.51)
    assert out.filled_shares == pytest.approx(1960.764705, abs=1e-9) and out.avg_price == pytest.approx(0.51)
    assert out.fee_usd == pytest.approx(1960.764705 * 0.05 * 0.51 * 0.49)
    dec, o = ledger.decision(t.trade_key), ledger.order_for(t.trade_key)
    assert dec["decided_at"] <= o["created_at"] and dec["run_id"] == "r1"
    assert o["order_id"] == client_order_id(t.trade_key) and o["order_type"] == "FOK"
    # Retries, re-deliveries and sensor re-evaluations: same answer, no new order.
    for _ in range(3):
        again = run(t, ledger, clients, venue, run_id="r2")
        assert again.already_decided and again.order_id == out.order_id
    assert len(ledger.orders()) == 1 and len(ledger.decisions()) == 1
    assert ledger.position_shares(TOKEN) == pytest.approx(1960.764705)


def test_concurrent_runs_for_one_trade_place_one_order(ledger):
    clients = FakeClients(book(asks=DEEP_ASKS))
    venue = PaperVenue(ledger, clients.clob, fee_rate=RULES.fee_rate)
    t = make_trade(n=7)
    outcomes, errors = [], []

    def go():
        try:
            outcomes.append(run(t, ledger, clients, venue))
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(ledger.orders()) == 1 and len(ledger.decisions()) == 1
    assert sum(not o.already_decided for o in outcomes) == 1


def test_skips_are_recorded_with_stage_reason_and_values(ledger):
    clients = FakeClients(book(asks=DEEP_ASKS))
    venue = PaperVenue(ledger, clients.clob, fee_rate=RULES.fee_rate)
    stale = run(make_trade(ts=NOW - 301, n=1), ledger, clients, venue)
    assert (stale.decision, stale.stage) == ("skip", "stage2_trade") and "stale" in stale.reason
    cheap = make_trade(price=0.51, size=1_000, n=2)  # $510 < $5,000
    out = run(cheap, ledger, clients, venue)
    assert (out.decision, out.stage) == ("skip", "stage2_trade") and "below $5,000" in out.reason
    assert json.loads(ledger.decision(cheap.trade_key)["details"])["whale_usd"] == pytest.approx(510.0)
    pricey = run(make_trade(price=0.40, size=20_000, n=3), ledger, clients, venue)  # we'd pay 0.51 for a 0.40 trade
    assert (pricey.decision, pricey.stage) == ("skip", "stage2_trade") and "slippage" in pricey.reason
    exit_ = run(make_trade(side="SELL", n=4), ledger, clients, venue)
    assert (exit_.decision, exit_.stage) == ("skip", "exit")
    assert ledger.orders() == []
    stats = ledger.signal_stats()
    assert stats["signals"] == 3 and stats["copied"] == 0 and stats["rejected_by_stage"] == {"stage2_trade": 3}


def test_exit_mirrors_the_source_at_the_best_bid_even_when_old(ledger):
    clients = FakeClients(book(asks=DEEP_ASKS))
    venue = PaperVenue(ledger, clients.clob, fee_rate=RULES.fee_rate)
    run(make_trade(n=10), ledger, clients, venue)
    clients.clob.b = book(bids=((0.49, 5_000.0),), asks=DEEP_ASKS)
    old_sell = make_trade(side="SELL", price=0.60, ts=NOW - 3600, n=11)
    out = run(old_sell, ledger, clients, venue)
    assert out.decision == "copy" and out.order_status == "filled" and out.avg_price == pytest.approx(0.49)
    # Everything sellable (whole hundredths) was sold: the position is closed, the
    # unsellable rest of the BUY's 6-decimal shares written off.
    assert 0 <= ledger.position_shares(TOKEN) < 0.01 and open_positions(ledger) == []


def test_crash_leaves_pending_orders_that_are_reconciled_never_resent(ledger):
    clients = FakeClients(book())
    clob = clients.clob
    venue = PaperVenue(ledger, clob, fee_rate=0.05)
    # Crash after the order was saved pending but before it was sent.
    t1 = make_trade(n=20)
    ledger.claim_decision(t1.trade_key, "copy", "execution", "copy BUY", {}, "r")
    ledger.create_pending_order(client_order_id(t1.trade_key), t1.trade_key, "paper", TOKEN, t1.condition_id,
                                "BUY", "FOK", 0.52, 100.0)
    # Crash after the venue executed but before the ledger recorded the fill.
    t2 = make_trade(n=21)
    ledger.claim_decision(t2.trade_key, "copy", "execution", "copy BUY", {}, "r")
    oid2 = client_order_id(t2.trade_key)
    ledger.create_pending_order(oid2, t2.trade_key, "paper", TOKEN, t2.condition_id, "BUY", "FOK", 0.52, 100.0)
    venue.place(oid2, TOKEN, "BUY", 0.52, usd=51.0)
    # The restarted run sees the decisions and does not send anything new.
    for t in (t1, t2):
        out = run(t, ledger, clients, venue)
        assert out.already_decided and out.order_status == "pending"
    assert ledger.paper_execution(client_order_id(t1.trade_key)) is None  # t1 never reached the venue
    done = {d["order_id"]: d["status"] for d in reconcile_pending(ledger, venue, older_than_s=0.0)}
    assert done == {client_order_id(t1.trade_key): "cancelled", oid2: "filled"}
    assert ledger.paper_execution(client_order_id(t1.trade_key)) is None  # cancelled, not re-sent
    assert ledger.order_for(t1.trade_key)["status"] == "cancelled"
    assert ledger.position_shares(TOKEN) == pytest.approx(100.0)
    assert reconcile_pending(ledger, venue, older_than_s=0.0) == []


def fills_of_one_order(n_fills, usd_each, *, tx_each=False, spread_ms=0, price=0.51, side="BUY", first=100):
    """A whale order of ``n_fills`` fills of ``usd_each`` USD: in one transaction, or each in
    its own transaction over ``spread_ms`` milliseconds (second-granular times, as served)."""
    out = []
    start = NOW - 10
    for i in range(n_fills):
        tx = "0x" + f"{first + (i if tx_each else 0):064x}"
        size = round(usd_each / price, 2) + i * 0.01  # distinct fills
        ts = int(start + (i * spread_ms / max(n_fills - 1, 1)) / 1000) if spread_ms else int(start)
        out.append(Trade(trade_key(tx, WALLET, TOKEN, side, size, price), tx, WALLET, side, TOKEN, CONDITION,
                         size, price, size * price, ts, "Yes", 0, None, None, None, None, None, "v1"))
    return out


def decide_batch(fills, ledger, clients, run_id="run-1"):
    """What a copy run does with a tick's fills: record them, then decide each signal once."""
    from polycopy.execution.copier import decide_signal, load_signal
    from polycopy.execution.portfolio_state import assess_portfolio

    ledger.record_seen_trades(fills, seen_at=NOW - 8)
    keys = list(dict.fromkeys(ledger.signal_of_trade(f.trade_key) for f in fills))
    state = assess_portfolio(ledger, clients, RULES.risk, RULES.signals, now=NOW)
    out = []
    for key in keys:
        d, claimed, state = decide_signal(load_signal(ledger, key), ledger=ledger, clients=clients, rules=RULES,
                                          state=state, run_id=run_id, now=NOW)
        out.append(d)
    return out


@pytest.mark.parametrize("shape", ["one_transaction", "ten_transactions_over_800ms"])
def test_a_whale_order_in_ten_fills_is_one_decision_sized_on_its_total(ledger, shape):
    clients = FakeClients(book(asks=DEEP_ASKS))
    # $600 a fill: each alone is below the $5,000 gate; the order is $6,000.
    fills = fills_of_one_order(10, 600.0, tx_each=shape != "one_transaction",
                               spread_ms=800 if shape != "one_transaction" else 0)
    [d] = decide_batch(fills, ledger, clients)
    v = json.loads(d["details"])
    total_shares = sum(f.size for f in fills)
    assert d["decision"] == "copy", d
    assert v["fill_count"] == 10 and [f["trade_key"] for f in v["fills"]] == sorted(
        (f.trade_key for f in fills), key=lambda k: (next(f.timestamp for f in fills if f.trade_key == k), k))
    assert v["whale_shares"] == pytest.approx(total_shares) and v["whale_usd"] == pytest.approx(total_shares * 0.51)
    # The conviction multiplier sees the order, not a fill: min($6,000 / $1,000, 1.5) = 1.5 (a fill: 0.6).
    assert v["sizing"]["m_conviction"] == pytest.approx(1.5)
    assert len(ledger.decisions()) == 1


def test_a_50k_order_in_4k_fills_passes_the_5k_gate_and_orders_two_seconds_apart_stay_two(ledger):
    clients = FakeClients(book(asks=DEEP_ASKS))
    big = fills_of_one_order(13, 50_000 / 13 - 0.01, first=100)  # ≈ $3,846 a fill, $50,000 in all
    assert all(f.size * f.price < 5_000 for f in big) and sum(f.size * f.price for f in big) >= 50_000 - 1
    later = fills_of_one_order(1, 6_000.0, first=300)
    later = [dataclasses.replace(later[0], timestamp=big[0].timestamp + 2)]
    decisions = decide_batch(big + later, ledger, clients)
    assert len(decisions) == 2 and len(ledger.decisions()) == 2
    first = json.loads(decisions[0]["details"])
    assert first["fill_count"] == 13 and first["whale_usd"] == pytest.approx(50_000, abs=1)
    assert "below $5,000" not in decisions[0]["reason"]
    assert json.loads(decisions[1]["details"])["fill_count"] == 1
    # Sized one after the other: the second copy sees the first one's exposure.
    assert decisions[0]["decision"] == "copy"


def test_exits_aggregate_the_same_way(ledger):
    clients = FakeClients(book(asks=DEEP_ASKS))
    venue = PaperVenue(ledger, clients.clob, fee_rate=RULES.fee_rate)
    assert run(make_trade(n=1), ledger, clients, venue).order_status == "filled"
    held = ledger.position_shares(TOKEN)
    sells = fills_of_one_order(5, 300.0, side="SELL", price=0.49, first=500, tx_each=True, spread_ms=600)
    [d] = decide_batch(sells, ledger, clients)
    v = json.loads(d["details"])
    assert (d["decision"], d["stage"], v["fill_count"]) == ("copy", "exit", 5)
    sold = sum(f.size for f in sells)
    assert v["whale_shares"] == pytest.approx(sold)
    # Mirrored in proportion: the whale bought 10,000 shares and sold ``sold`` of them in one
    # order of five fills; we sell that fraction of what we hold (floored to 0.01 share).
    assert (v["rule"], v["whale_sold_fraction"]) == ("mirror", pytest.approx(sold / 10_000))
    assert v["shares"] == pytest.approx(int(held * sold / 10_000 * 100) / 100)


def test_a_signal_that_aged_in_our_backlog_says_so(ledger):
    from polycopy.execution.copier import decide_signal, load_signal
    from polycopy.execution.portfolio_state import assess_portfolio

    clients = FakeClients(book(asks=DEEP_ASKS))
    t = make_trade(ts=NOW - 400, n=7)
    ledger.record_seen_trades([t], seen_at=NOW - 395)  # fresh when seen (5 s old), decided 395 s later
    state = assess_portfolio(ledger, clients, RULES.risk, RULES.signals, now=NOW)
    d, _, _ = decide_signal(load_signal(ledger, t.trade_key), ledger=ledger, clients=clients, rules=RULES,
                            state=state, now=NOW)
    v = json.loads(d["details"])
    assert d["decision"] == "skip" and "our own backlog" in d["reason"], d["reason"]
    assert v["feed_lag_s"] == pytest.approx(5) and v["backlog_s"] == pytest.approx(395)
    # Already stale when the feed showed it: the plain reason.
    old = make_trade(ts=NOW - 900, n=8)
    ledger.record_seen_trades([old], seen_at=NOW - 1)
    d, _, _ = decide_signal(load_signal(ledger, old.trade_key), ledger=ledger, clients=clients, rules=RULES,
                            state=state, now=NOW)
    assert d["reason"].startswith("stale: seen") and "backlog" not in d["reason"]


def test_the_recount_counts_each_order_with_the_ones_before_it(ledger):
    """signal_within_limits' recount: three $900 copies in one market each pass alone, but the
    third would put $2,700 in a market capped at 20 % of the $10,000 NAV; a $1,500 copy breaches
    the $1,000 per-trade cap whatever comes before it."""
    from polycopy.execution.copier import SourceSignal, recount_limits
    from polycopy.execution.portfolio_state import assess_portfolio

    clients = FakeClients(book(asks=DEEP_ASKS))
    state = assess_portfolio(ledger, clients, RULES.risk, RULES.signals, now=NOW, record=False)
    orders = []
    for n, usd in enumerate((900.0, 900.0, 900.0, 1_500.0)):
        t = make_trade(n=40 + n)
        details = {"notional_usd": usd, "shares": usd / 0.5, "limit_price": 0.5, "category": "sports",
                   "tier_max_exposure": 1.0}
        orders.append((SourceSignal(t.trade_key, (t,), NOW - 5), {"details": json.dumps(details)}))
    breaches = recount_limits(orders, state, RULES)
    keys = [o[0].signal_key for o in orders]
    assert set(breaches) == {keys[2], keys[3]}
    assert any(b.startswith("market limit: $2,700.00 > $2,000.00") for b in breaches[keys[2]]), breaches[keys[2]]
    assert any(b.startswith("per-trade USD limit: $1,500.00 > $1,000.00") for b in breaches[keys[3]])
    assert recount_limits(orders[:2], state, RULES) == {}
