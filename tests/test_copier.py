"""Paper fills, fees and the at-most-once copy flow, on SQLite and on PostgreSQL."""

import threading

import pytest

from polycopy.execution.copier import CopySettings, client_order_id, copy_trade, reconcile_pending
from polycopy.execution.paper import PaperVenue, match_against_book, taker_fee_usd
from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy.polymarket.clients import BookLevel, OrderBook
from polycopy.polymarket.schema import Trade, trade_key

TOKEN = "123456789"
NOW = 1_800_000_000.0


def book(bids=((0.49, 100.0), (0.48, 300.0)), asks=((0.51, 100.0), (0.52, 300.0)), min_size=5.0):
    return OrderBook(TOKEN, tuple(BookLevel(p, s) for p, s in bids), tuple(BookLevel(p, s) for p, s in asks),
                     0.01, min_size, False, None)


class FakeClob:
    """The CLOB's public book, fixed for the test (the live CLOB is the outside world)."""

    def __init__(self, b):
        self.b = b
        self.calls = 0

    def book(self, token_id):
        self.calls += 1
        return self.b


def make_trade(side="BUY", price=0.51, size=10_000.0, ts=NOW - 5, n=0) -> Trade:
    tx = "0x" + f"{n:064x}"
    wallet = "0x" + "ab" * 20
    return Trade(trade_key(tx, wallet, TOKEN, side, size, price), tx, wallet, side, TOKEN, "0x" + "cd" * 32,
                 size, price, size * price, int(ts), "Yes", 0, None, None, None, None, None, "v1")


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request, tmp_path):
    if request.param == "sqlite":
        return open_ledger(LedgerSettings(backend="sqlite", sqlite_path=str(tmp_path / "ledger.sqlite")))
    dsn = request.getfixturevalue("pg_database")
    return open_ledger(LedgerSettings(backend="postgres", pg_dsn=dsn))


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


def test_buy_is_copied_once_decision_before_order(ledger):
    clob = FakeClob(book())
    venue = PaperVenue(ledger, clob, fee_rate=0.05)
    settings = CopySettings(order_usd=51.0, max_slippage=0.01, max_trade_age_s=300)
    t = make_trade()
    out = copy_trade(t, ledger=ledger, venue=venue, clob=clob, settings=settings, run_id="r1", now=NOW)
    assert out.decision == "copy" and out.order_status == "filled"
    # 51 USD at the best ask 0.51 = 100 shares, all at 0.51.
    assert out.filled_shares == pytest.approx(100.0) and out.avg_price == pytest.approx(0.51)
    assert out.fee_usd == pytest.approx(100 * 0.05 * 0.51 * 0.49)
    d, o = ledger.decision(t.trade_key), ledger.order_for_trade(t.trade_key)
    assert d["decided_at"] <= o["created_at"]
    assert o["order_id"] == client_order_id(t.trade_key) and o["order_type"] == "FOK"
    # Retries, re-deliveries and sensor re-evaluations: same answer, no new order.
    for _ in range(3):
        again = copy_trade(t, ledger=ledger, venue=venue, clob=clob, settings=settings, run_id="r2", now=NOW)
        assert again.already_decided and again.order_id == out.order_id
    assert len(ledger.orders()) == 1 and len(ledger.decisions()) == 1
    assert ledger.position_shares(TOKEN) == pytest.approx(100.0)


def test_concurrent_runs_for_one_trade_place_one_order(ledger):
    clob = FakeClob(book())
    venue = PaperVenue(ledger, clob, fee_rate=0.05)
    settings = CopySettings(order_usd=51.0)
    t = make_trade(n=7)
    outcomes, errors = [], []

    def run():
        try:
            outcomes.append(copy_trade(t, ledger=ledger, venue=venue, clob=clob, settings=settings, now=NOW))
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(ledger.orders()) == 1 and len(ledger.decisions()) == 1
    assert sum(not o.already_decided for o in outcomes) == 1


def test_skips_are_recorded_with_stage_reason_and_values(ledger):
    clob = FakeClob(book())
    venue = PaperVenue(ledger, clob, fee_rate=0.05)
    s = CopySettings(order_usd=51.0, max_slippage=0.01, max_trade_age_s=300)
    stale = copy_trade(make_trade(ts=NOW - 301, n=1), ledger=ledger, venue=venue, clob=clob, settings=s, now=NOW)
    assert (stale.decision, stale.stage) == ("skip", "freshness") and "stale" in stale.reason
    pricey = copy_trade(make_trade(price=0.40, n=2), ledger=ledger, venue=venue, clob=clob, settings=s, now=NOW)
    assert (pricey.decision, pricey.stage) == ("skip", "slippage") and "above limit 0.40" in pricey.reason
    assert ledger.decision(make_trade(price=0.40, n=2).trade_key)["details"]
    exit_ = copy_trade(make_trade(side="SELL", n=3), ledger=ledger, venue=venue, clob=clob, settings=s, now=NOW)
    assert (exit_.decision, exit_.stage) == ("skip", "position")
    assert ledger.orders() == []


def test_exit_mirrors_the_source_at_the_best_bid_even_when_old(ledger):
    clob = FakeClob(book())
    venue = PaperVenue(ledger, clob, fee_rate=0.05)
    s = CopySettings(order_usd=51.0, max_trade_age_s=300)
    copy_trade(make_trade(n=10), ledger=ledger, venue=venue, clob=clob, settings=s, now=NOW)
    old_sell = make_trade(side="SELL", price=0.60, ts=NOW - 3600, n=11)
    out = copy_trade(old_sell, ledger=ledger, venue=venue, clob=clob, settings=s, now=NOW)
    assert out.decision == "copy" and out.order_status == "filled" and out.avg_price == pytest.approx(0.49)
    assert ledger.position_shares(TOKEN) == pytest.approx(0.0)


def test_crash_leaves_pending_orders_that_are_reconciled_never_resent(ledger):
    clob = FakeClob(book())
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
    venue.place(oid2, TOKEN, "BUY", 100.0, 0.52)
    calls = clob.calls
    # The restarted run sees the decisions and does not send anything new.
    for t in (t1, t2):
        out = copy_trade(t, ledger=ledger, venue=venue, clob=clob, settings=CopySettings(), now=NOW)
        assert out.already_decided and out.order_status == "pending"
    assert clob.calls == calls
    done = {d["order_id"]: d["status"] for d in reconcile_pending(ledger, venue, older_than_s=0.0)}
    assert done == {client_order_id(t1.trade_key): "cancelled", oid2: "filled"}
    assert clob.calls == calls  # reconciliation reads the venue's record, it never re-sends
    assert ledger.order_for_trade(t1.trade_key)["status"] == "cancelled"
    assert ledger.position_shares(TOKEN) == pytest.approx(100.0)
    assert reconcile_pending(ledger, venue, older_than_s=0.0) == []
