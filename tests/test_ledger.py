"""The ledger on SQLite and PostgreSQL: fills joined into signals (one whale order, one
signal), a ledger from before versioned migrations upgraded in place with nothing lost,
transient connection errors retried per transaction, and the cause of a failure reported
rather than the rollback's."""

import importlib
import json
import sqlite3

import psycopg2
import pytest

from polycopy.db import DbRetry, is_transient, transaction
from polycopy.ledger.store import HEAD_REVISION, VERSION_TABLE, LedgerSettings, open_ledger
from polycopy.polymarket.schema import Trade, trade_key

WALLET = "0x" + "ab" * 20
OTHER_WALLET = "0x" + "cd" * 20
TOKEN, OTHER_TOKEN = "111", "222"
CONDITION = "0x" + "ef" * 32
T0 = 1_800_000_000
BASELINE = importlib.import_module("polycopy.ledger.migrations.versions.0001_baseline")


def fill(ts, tx, size=100.0, price=0.5, side="BUY", wallet=WALLET, token=TOKEN) -> Trade:
    return Trade(trade_key(tx, wallet, token, side, size, price), tx, wallet, side, token, CONDITION, size, price,
                 size * price, ts, "Yes", 0, None, None, None, None, None, "v1")


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request, tmp_path):
    if request.param == "sqlite":
        return LedgerSettings(backend="sqlite", sqlite_path=str(tmp_path / "ledger.sqlite"))
    return LedgerSettings(backend="postgres", pg_dsn=request.getfixturevalue("pg_database"))


def test_fills_of_one_transaction_are_one_signal_whatever_their_times(settings):
    ledger = open_ledger(settings)
    # One order matched against ten makers: one transaction (its fills' times may straddle seconds).
    fills = [fill(T0 + (i // 5) * 3, tx(1), size=10.0 + i) for i in range(10)]
    out = ledger.record_seen_trades(fills, seen_at=T0 + 5.0)
    in_order = sorted(fills, key=lambda f: (f.timestamp, f.trade_key))
    # The signal is keyed by its first fill (by time, then key: the same whatever order they came in).
    assert len(out) == 10 and {o["signal_key"] for o in out} == {in_order[0].trade_key}
    sig = ledger.signal(in_order[0].trade_key)
    assert (sig["first_ts"], sig["last_ts"], sig["attempts"]) == (T0, T0 + 3, 0)
    assert [f["trade_key"] for f in ledger.signal_fills(sig["signal_key"])] == [f.trade_key for f in in_order]


def test_fills_within_the_window_join_and_orders_two_seconds_apart_stay_apart(settings):
    ledger = open_ledger(settings)
    # Ten fills over 800 ms, each in its own transaction (second-granular times: T0 and T0 + 1).
    burst = [fill(T0 + (i * 80) // 1000 + (1 if i >= 7 else 0), tx(10 + i)) for i in range(10)]
    ledger.record_seen_trades(burst[:6], seen_at=T0 + 2.0)
    ledger.record_seen_trades(burst[6:], seen_at=T0 + 2.5)  # the rest in the next poll
    assert len({ledger.signal_of_trade(f.trade_key) for f in burst}) == 1
    # Another order 2 s later; the same wallet selling, another token, another wallet: apart.
    later = fill(T0 + 3, tx(30))
    sell = fill(T0, tx(31), side="SELL")
    other_token = fill(T0, tx(32), token=OTHER_TOKEN)
    other_wallet = fill(T0, tx(33), wallet=OTHER_WALLET)
    out = ledger.record_seen_trades([later, sell, other_token, other_wallet], seen_at=T0 + 4.0)
    assert all(o["new_signal"] for o in out)
    assert len({ledger.signal_of_trade(f.trade_key) for f in burst + [later, sell, other_token, other_wallet]}) == 5
    # A fill seen again is not recorded again.
    assert ledger.record_seen_trades(burst, seen_at=T0 + 9.0) == []
    assert ledger.summary()["trades_seen"] == 14 and ledger.summary()["signals"] == 5


def test_a_fill_arriving_after_its_signal_was_decided_is_kept_as_late(settings):
    ledger = open_ledger(settings)
    first = fill(T0, tx(1))
    ledger.record_seen_trades([first], seen_at=T0 + 2.0)
    assert ledger.claim_decision(first.trade_key, "skip", "stage2_trade", "below", {}, "r1")
    late = fill(T0 + 1, tx(2))
    [row] = ledger.record_seen_trades([late], seen_at=T0 + 30.0)
    assert row == {"trade_key": late.trade_key, "signal_key": first.trade_key, "new_signal": False, "late": True}
    assert ledger.decision_for_trade(late.trade_key)["signal_key"] == first.trade_key
    assert not ledger.claim_decision(first.trade_key, "copy", "sizing", "again", {}, "r2")  # decided once


def test_launches_attempts_and_the_undecided(settings):
    ledger = open_ledger(settings)
    a, b = fill(T0, tx(1)), fill(T0 + 10, tx(2))
    ledger.record_seen_trades([a, b], seen_at=T0 + 12.0)
    assert [s["signal_key"] for s in ledger.signals_to_launch()] == [a.trade_key, b.trade_key]
    ledger.record_launch([a.trade_key, b.trade_key], "copy-x-1", now=T0 + 13.0)
    assert ledger.signals_to_launch() == []
    ledger.claim_decision(a.trade_key, "skip", "risk", "halted", {}, "run-1")
    unfinished = ledger.unfinished_signals(order_deadline_s=300, now=T0 + 20.0)
    assert [(s["signal_key"], s["run_key"], s["outcome"]) for s in unfinished] == [(b.trade_key, "copy-x-1", None)]
    ledger.record_attempt_outcome([b.trade_key], "copy-x-1", "failure", "OperationalError: server closed", "run-1",
                                  next_attempt_at=T0 + 30.0, now=T0 + 21.0)
    ledger.record_launch([b.trade_key], "copy-y-2", now=T0 + 31.0)
    attempts = ledger.attempts(b.trade_key)
    assert [(x["attempt"], x["run_key"], x["outcome"], x["error"]) for x in attempts] == [
        (1, "copy-x-1", "failure", "OperationalError: server closed"), (2, "copy-y-2", None, None)]
    assert ledger.signal(b.trade_key)["last_error"] == "OperationalError: server closed"
    # Undecided for longer than a limit: what the alert reads.
    assert [s["signal_key"] for s in ledger.undecided_signals(older_than_s=60, now=T0 + 100.0)] == [b.trade_key]
    assert ledger.undecided_signals(older_than_s=600, now=T0 + 100.0) == []
    # A copy decision whose order was never sent still needs a run, until the order deadline.
    ledger.claim_decision(b.trade_key, "copy", "sizing", "ok", {"shares": 10, "limit_price": 0.5}, "run-2")
    decided_at = ledger.decision(b.trade_key)["decided_at"]
    assert [s["signal_key"] for s in ledger.unfinished_signals(300, now=decided_at + 10)] == [b.trade_key]
    assert ledger.unfinished_signals(300, now=decided_at + 400) == []


def _old_ledger(settings, cur_factory):
    """A ledger as the hand-rolled schema left it: a copied trade with its order and fill, a
    skipped one, and one seen but never decided (lost to a failed run)."""
    with cur_factory() as cur:
        for stmt in BASELINE.STATEMENTS:
            cur.execute(stmt)
        p = "?" if settings.backend == "sqlite" else "%s"
        rows = [("k-copied", T0, "BUY"), ("k-skipped", T0 + 5, "BUY"), ("k-lost", T0 + 9, "SELL")]
        for key, ts, side in rows:
            cur.execute(f"insert into source_trades values ({', '.join([p] * 10)})",
                        (key, WALLET, CONDITION, TOKEN, side, 100.0, 0.5, ts, ts + 2.0,
                         json.dumps({"trade_key": key})))
        cur.execute(f"insert into decisions values ({', '.join([p] * 7)})",
                    ("k-copied", "copy", "sizing", "ok", "{}", T0 + 3.0, "run-a"))
        cur.execute(f"insert into decisions values ({', '.join([p] * 7)})",
                    ("k-skipped", "skip", "stage2_trade", "small", "{}", T0 + 6.0, "run-b"))
        cur.execute(f"insert into orders values ({', '.join([p] * 14)})",
                    ("pc-k-copied", "k-copied", "paper", TOKEN, CONDITION, "BUY", "FOK", 0.5, 100.0, "filled", None,
                     None, T0 + 3.0, T0 + 3.5))
        cur.execute(f"insert into fills values ({', '.join([p] * 8)})",
                    ("pc-k-copied-0", "pc-k-copied", TOKEN, "BUY", 0.5, 100.0, 1.25, T0 + 3.5))


def test_a_ledger_from_before_migrations_is_upgraded_in_place(settings):
    if settings.backend == "sqlite":
        def cursor():
            return transaction(lambda: sqlite3.connect(settings.sqlite_path))
    else:
        def cursor():
            return transaction(lambda: psycopg2.connect(settings.pg_dsn))
    _old_ledger(settings, cursor)
    ledger = open_ledger(settings)
    with ledger.tx() as cur:
        cur.execute(f"select version_num from {VERSION_TABLE}")
        assert cur.fetchone()[0] == HEAD_REVISION
    # Every decision, order and fill is still there, under its signal (= its trade key).
    assert [(d["signal_key"], d["decision"]) for d in ledger.decisions()] == [("k-copied", "copy"),
                                                                              ("k-skipped", "skip")]
    assert ledger.order_for("k-copied")["status"] == "filled"
    assert ledger.order_for("k-copied")["decision_key"] == "k-copied"  # orders.signal_key became decision_key
    assert [f["fee_usd"] for f in ledger.fill_rows()] == [1.25] and ledger.fill_rows()[0]["wallet"] == WALLET
    assert ledger.decision_for_trade("k-copied")["decision"] == "copy"
    # The fill that was seen and never decided is not lost: it is a signal waiting for a run.
    assert [s["signal_key"] for s in ledger.signals_to_launch()] == ["k-lost"]
    assert ledger.summary()["undecided"] == 1
    open_ledger(settings)  # opening again changes nothing
    assert len(ledger.decisions()) == 2 and ledger.summary()["signals"] == 3
    # The approval and reconciliation tables of 0004 work on the upgraded ledger.
    assert ledger.create_proposal("prop-1", "k-copied", "entry", "t", "c", "BUY", 10.0, 5.0, 0.5, 0.6, {"why": 1},
                                  100.0, 220.0)
    assert ledger.resolve_proposal("prop-1", "rejected", "me", "no", {})
    assert not ledger.resolve_proposal("prop-1", "approved", "me", "late", {})
    assert [(a["action"], a["actor"]) for a in ledger.order_actions("prop-1")] == [("rejected", "me")]
    ledger.record_venue_snapshot("live", "0xw", 100.0, -1.25, True, "first")
    assert ledger.venue_baseline("0xw")["collateral_usd"] == 100.0


def test_a_ledger_at_0003_keeps_its_orders_and_fills_when_it_gains_approvals_and_snapshots(settings):
    from polycopy.ledger.store import upgrade

    old = open_ledger(settings, migrate=False)
    upgrade(old, settings, revision="0003")
    old.claim_decision("s1", "copy", "execution", "copy BUY", {"shares": 10.0}, "r1")
    old.create_pending_order("o1", "s1", "paper", "tok", "cond", "BUY", "FOK", 0.5, 10.0)
    old.settle_order("o1", "filled", None, None, [("o1-0", "tok", "BUY", 0.5, 10.0, 0.01)])
    with old.tx() as cur:
        cur.execute(f"select version_num from {VERSION_TABLE}")
        assert cur.fetchone()[0] == "0003"
    ledger = open_ledger(settings)
    assert ledger.order("o1")["status"] == "filled" and [f["fill_id"] for f in ledger.fills()] == ["o1-0"]
    assert ledger.cash_flow_usd() == pytest.approx(-5.01)
    assert ledger.proposals() == [] and ledger.order_actions() == []


class FlakyConnection:
    """A connection whose statements fail with the given errors, in turn, before working."""

    def __init__(self, real, errors):
        self.real, self.errors = real, errors

    closed = False

    def begin(self):
        self.real.begin()

    def cursor(self):
        if self.errors:
            raise self.errors.pop(0)
        return self.real.cursor()

    def commit(self):
        self.real.commit()

    def rollback(self):
        raise psycopg2.InterfaceError("connection already closed")  # what a dead connection says

    def close(self):
        self.real.close()


def test_transient_errors_are_retried_and_others_raised_with_their_cause(tmp_path):
    settings = LedgerSettings(backend="sqlite", sqlite_path=str(tmp_path / "l.sqlite"),
                              retry=DbRetry(initial_s=0.01, max_wait_s=0.02, give_up_after_s=5))
    ledger = open_ledger(settings)
    real_connect = ledger._connect
    errors = [psycopg2.OperationalError("server closed the connection unexpectedly\n\tThis probably means ..."),
              psycopg2.OperationalError("could not connect to server: Connection refused")]
    ledger._connect = lambda: FlakyConnection(real_connect(), errors)
    ledger.close()
    assert ledger.record_seen_trades([fill(T0, tx(1))], seen_at=T0)  # after two failed attempts
    assert errors == []
    # Not transient (a missing database, bad SQL): raised at once, as itself.
    errors += [psycopg2.OperationalError('FATAL:  database "nope" does not exist')]
    ledger.close()
    with pytest.raises(psycopg2.OperationalError, match="does not exist"):
        ledger.summary()
    assert not is_transient(psycopg2.ProgrammingError("syntax error at or near"))
    assert is_transient(psycopg2.InterfaceError("connection already closed"))


def test_a_lost_postgres_connection_is_reopened_and_the_cause_is_what_is_reported(pg_database):
    ledger = open_ledger(LedgerSettings(backend="postgres", pg_dsn=pg_database))
    ledger.record_seen_trades([fill(T0, tx(1))], seen_at=T0)

    def kill_ledger_backends():
        con = psycopg2.connect(pg_database)
        con.autocommit = True
        con.cursor().execute("select pg_terminate_backend(pid) from pg_stat_activity"
                             " where datname = current_database() and pid <> pg_backend_pid()")
        con.close()

    # The server drops the ledger's connection (a restart, a failover): the next call
    # reconnects and succeeds, inside the retry of its transaction.
    kill_ledger_backends()
    assert ledger.summary()["trades_seen"] == 1
    # Without retries, the error is the server's, not the rollback's "connection already closed".
    no_retry = open_ledger(LedgerSettings(backend="postgres", pg_dsn=pg_database, retry=DbRetry(give_up_after_s=0)),
                           migrate=False)
    no_retry.summary()
    kill_ledger_backends()
    with pytest.raises(psycopg2.OperationalError) as err:
        no_retry.summary()
    assert "connection already closed" not in str(err.value)
    assert "terminat" in str(err.value) or "server closed the connection" in str(err.value)
    assert no_retry.summary()["trades_seen"] == 1  # and the next call opens a new connection


def test_the_head_revision_the_ledger_checks_is_alembic_s_head():
    from polycopy import migrations
    from polycopy.ledger.store import HEAD_REVISION, MIGRATIONS_DIR

    assert migrations.head_revision(MIGRATIONS_DIR) == HEAD_REVISION


def test_a_copy_proposed_for_approval_is_finished_for_the_sweeper(settings):
    """In approval mode a copy run ends with a proposal, not an order: its signal must not be
    relaunched while a person decides."""
    ledger = open_ledger(settings, clock=lambda: T0 + 15.0)
    a = fill(T0, tx(41))
    ledger.record_seen_trades([a], seen_at=T0 + 1.0)
    ledger.record_launch([a.trade_key], "copy-p-1", now=T0 + 2.0)
    ledger.claim_decision(a.trade_key, "copy", "execution", "copy BUY", {"shares": 10.0, "limit_price": 0.5}, "r")
    assert [s["signal_key"] for s in ledger.unfinished_signals(order_deadline_s=300, now=T0 + 20.0)] == [a.trade_key]
    assert ledger.create_proposal("prop-a", a.trade_key, "entry", a.token_id, a.condition_id, "BUY", 10.0, 5.0, 0.5,
                                  None, {}, T0 + 16.0, T0 + 136.0)
    assert ledger.unfinished_signals(order_deadline_s=300, now=T0 + 20.0) == []
    assert [x["finished"] for x in ledger.open_attempts()] == [1]
