"""The trading ledger: source trades seen, the signals they form, decisions, orders, fills.

Safe for concurrent copy runs and sensors: SQLite in WAL mode (embedded default) or
PostgreSQL (production). The schema is versioned (``polycopy/ledger/migrations``); an
existing ledger is upgraded in place when it is opened.

Exactly-once rests on primary keys: a signal is decided once (``decisions.signal_key``)
and has at most one order (``orders.decision_key`` is unique). A *signal* is one whale
order: the fills of one wallet on one token and side in one transaction or within the
aggregation window of the signal's first fill; its key is the trade key of that fill.
Every fill the feed sees is recorded (and joined to its signal) before anything is
decided; every launch of a copy run for a signal, and how it ended, is recorded too.
Times are unix seconds (float, wall clock); sizes in shares, prices in USD/share.

Each public method is one transaction, retried as a whole on a transient connection
error (see :class:`polycopy.db.DbRetry`).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from polycopy.db import DbRetry, close_quietly, is_transient, pg_connect

ORDER_OPEN_STATUSES = ("pending",)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "ledger_alembic_version"
# The newest revision in migrations/versions (a test keeps the two equal): a ledger already
# there is opened without loading Alembic, which would add ~0.4 s to every copy run's start.
HEAD_REVISION = "0004"


@dataclass(frozen=True)
class LedgerSettings:
    """``backend`` is "sqlite" (embedded default) or "postgres"; ``retry`` governs the
    retries of transient connection errors."""

    backend: str = "sqlite"
    sqlite_path: str = ".data/ledger.sqlite"
    pg_dsn: str = "host=127.0.0.1 port=5432 user=postgres dbname=polycopy"
    retry: DbRetry = field(default_factory=DbRetry)


def exit_key(position_id: str, seq: int) -> str:
    """Key of exit pass ``seq`` on a position: names its decision, its order and its run."""
    return f"exit-{position_id}-{seq}"


def _retried(method):
    """Run a ledger method (one transaction) under the ledger's transient-error retry."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return self.retry.call(method, self, *args, **kwargs)

    return wrapper


class Ledger:
    """Ledger operations over one DB-API connection, opened lazily and reopened after a
    connection failure."""

    def __init__(self, connect, param: str, backend: str, retry: DbRetry | None = None, clock=None):
        self._connect = connect
        # What stamps every row (unix s): the wall clock; a simulation's clock in a replay.
        self.clock = clock or time.time
        self._p = param
        self.backend = backend
        self.retry = retry or DbRetry()
        self._con = None
        self._lock = threading.RLock()

    @contextmanager
    def tx(self):
        """A transaction: ``with ledger.tx() as cur: ...``. Commits on success; on an error
        rolls back (a broken connection is dropped and reopened by the next transaction) and
        raises the error that caused it."""
        with self._lock:
            if self._con is None:
                self._con = self._connect()
            con = self._con
            try:
                con.begin()
                cur = con.cursor()
                yield cur
                con.commit()
            except BaseException as exc:
                close_quietly(con.rollback)
                if is_transient(exc) or con.closed:
                    self.close()
                raise

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                close_quietly(self._con.close)
                self._con = None

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._p)

    def _rows(self, sql: str, params=()) -> list[dict]:
        with self.tx() as cur:
            cur.execute(self._sql(sql), params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    # ---- the feed: fills seen, signals, launches -------------------------------------
    @_retried
    def record_seen_trades(self, trades, seen_at: float | None = None, window_s: float = 1.0) -> list[dict]:
        """Record fills the feed saw (``Trade`` objects) and join each new one to its signal,
        in one transaction. A fill joins the signal of the same wallet, token and side that
        shares its transaction, else one whose first fill is within ``window_s`` seconds of
        it; otherwise it starts a new signal keyed by its own trade key.

        Returns, per new fill: trade_key, signal_key, whether the signal is new, and whether
        the signal was already decided when the fill arrived (``late``).
        """
        seen_at = self.clock() if seen_at is None else seen_at
        out = []
        with self.tx() as cur:
            if self.backend == "postgres":
                # Signals are formed one recorder at a time (the sensor, a copy run, the sweeper).
                cur.execute("lock table signals in share row exclusive mode")
            for t in sorted(trades, key=lambda t: (t.timestamp, t.trade_key)):
                cur.execute(self._sql(
                    "insert into source_trades (trade_key, proxy_wallet, condition_id, token_id, side, size, price,"
                    " trade_ts, seen_at, payload, transaction_hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " on conflict do nothing"),
                    (t.trade_key, t.proxy_wallet, t.condition_id, t.token_id, t.side, t.size, t.price, t.timestamp,
                     seen_at, json.dumps(t.as_row(), sort_keys=True), t.transaction_hash or None))
                if cur.rowcount != 1:
                    continue  # seen before: already in its signal
                key = self._signal_for(cur, t, window_s)
                new = key is None
                if new:
                    key = t.trade_key
                    cur.execute(self._sql(
                        "insert into signals (signal_key, proxy_wallet, condition_id, token_id, side, first_ts,"
                        " last_ts, first_seen_at, attempts) values (?, ?, ?, ?, ?, ?, ?, ?, 0)"),
                        (key, t.proxy_wallet, t.condition_id, t.token_id, t.side, t.timestamp, t.timestamp, seen_at))
                cur.execute(self._sql("update source_trades set signal_key = ? where trade_key = ?"),
                            (key, t.trade_key))
                if not new:
                    cur.execute(self._sql(
                        "update signals set first_ts = (select min(trade_ts) from source_trades where signal_key = ?),"
                        " last_ts = (select max(trade_ts) from source_trades where signal_key = ?)"
                        " where signal_key = ?"), (key, key, key))
                cur.execute(self._sql("select 1 from decisions where signal_key = ?"), (key,))
                out.append({"trade_key": t.trade_key, "signal_key": key, "new_signal": new,
                            "late": cur.fetchone() is not None})
        return out

    def _signal_for(self, cur, t, window_s: float) -> str | None:
        if t.transaction_hash:
            cur.execute(self._sql(
                "select signal_key from source_trades where transaction_hash = ? and proxy_wallet = ?"
                " and token_id = ? and side = ? and signal_key is not null limit 1"),
                (t.transaction_hash, t.proxy_wallet, t.token_id, t.side))
            row = cur.fetchone()
            if row:
                return row[0]
        cur.execute(self._sql(
            "select signal_key from signals where proxy_wallet = ? and token_id = ? and side = ?"
            " and first_ts between ? and ? order by abs(first_ts - ?), first_ts limit 1"),
            (t.proxy_wallet, t.token_id, t.side, t.timestamp - window_s, t.timestamp + window_s, t.timestamp))
        row = cur.fetchone()
        return row[0] if row else None

    @_retried
    def signal(self, signal_key: str) -> dict | None:
        rows = self._rows("select * from signals where signal_key = ?", (signal_key,))
        return rows[0] if rows else None

    @_retried
    def signal_fills(self, signal_key: str) -> list[dict]:
        """The fills of a signal, oldest first (``payload``: the internal Trade record as JSON)."""
        return self._rows("select * from source_trades where signal_key = ? order by trade_ts, trade_key",
                          (signal_key,))

    @_retried
    def wallet_token_fills(self, wallet: str, token_id: str) -> list[dict]:
        """The fills seen of one source wallet in one token, oldest first."""
        return self._rows("select trade_key, side, size, price, trade_ts from source_trades"
                          " where proxy_wallet = ? and token_id = ? order by trade_ts, trade_key",
                          (wallet.lower(), token_id))

    @_retried
    def signal_of_trade(self, trade_key: str) -> str | None:
        rows = self._rows("select signal_key from source_trades where trade_key = ?", (trade_key,))
        return rows[0]["signal_key"] if rows else None

    @_retried
    def signals_to_launch(self, limit: int = 10_000) -> list[dict]:
        """Undecided signals no run was launched for yet, oldest first."""
        return self._rows(
            "select s.* from signals s left join decisions d on d.signal_key = s.signal_key"
            " where d.signal_key is null and s.attempts = 0 order by s.first_ts, s.signal_key limit ?",
            (limit,))

    @_retried
    def record_launch(self, signal_keys: list[str], run_key: str, now: float | None = None) -> None:
        """A copy run was requested for these signals under ``run_key``: one attempt each."""
        now = self.clock() if now is None else now
        with self.tx() as cur:
            for key in signal_keys:
                cur.execute(self._sql(
                    "update signals set attempts = attempts + 1, launched_at = coalesce(launched_at, ?),"
                    " next_attempt_at = null where signal_key = ?"), (now, key))
                cur.execute(self._sql(
                    "insert into signal_attempts (signal_key, attempt, run_key, launched_at)"
                    " select signal_key, attempts, ?, ? from signals where signal_key = ?"), (run_key, now, key))

    @_retried
    def unfinished_signals(self, order_deadline_s: float, now: float | None = None) -> list[dict]:
        """Signals launched at least once that still need a run: undecided ones, and copy
        decisions whose order was never sent (nor proposed for approval) while still within
        ``order_deadline_s`` of the decision. Each with its last attempt (run_key, attempt_launched_at, outcome, error)."""
        now = self.clock() if now is None else now
        return self._rows(
            "select s.*, a.run_key, a.run_id, a.launched_at as attempt_launched_at, a.outcome, a.error,"
            " case when d.signal_key is null then 0 else 1 end as decided"
            " from signals s join signal_attempts a on a.signal_key = s.signal_key and a.attempt = s.attempts"
            " left join decisions d on d.signal_key = s.signal_key"
            " left join orders o on o.decision_key = s.signal_key"
            " left join proposals p on p.decision_key = s.signal_key"
            " where s.attempts > 0 and (d.signal_key is null"
            "   or (d.decision = 'copy' and o.decision_key is null and p.decision_key is null"
            "       and d.decided_at >= ?))"
            " order by s.first_seen_at, s.signal_key", (now - order_deadline_s,))

    @_retried
    def record_attempt_outcome(self, signal_keys: list[str], run_key: str, outcome: str, error: str | None,
                               run_id: str | None, next_attempt_at: float | None, now: float | None = None) -> None:
        """How the run of ``run_key`` ended for these signals (``failure``, ``lost``, ...), the
        error recorded against each, and when the next attempt is due."""
        now = self.clock() if now is None else now
        with self.tx() as cur:
            for key in signal_keys:
                cur.execute(self._sql(
                    "update signal_attempts set outcome = ?, error = ?, run_id = coalesce(?, run_id),"
                    " finished_at = ? where signal_key = ? and run_key = ? and outcome is null"),
                    (outcome, error, run_id, now, key, run_key))
                cur.execute(self._sql(
                    "update signals set last_error = coalesce(?, last_error), next_attempt_at = ?"
                    " where signal_key = ?"), (error, next_attempt_at, key))

    @_retried
    def open_attempts(self) -> list[dict]:
        """Launches whose outcome is not recorded yet, with whether their signal is finished
        (decided, and a copy decision has its order, or its proposal in approval mode)."""
        return self._rows(
            "select a.signal_key, a.attempt, a.run_key, a.launched_at, s.attempts,"
            " case when d.signal_key is not null and (d.decision <> 'copy' or o.decision_key is not null"
            "   or p.decision_key is not null) then 1 else 0 end as finished"
            " from signal_attempts a join signals s on s.signal_key = a.signal_key"
            " left join decisions d on d.signal_key = a.signal_key"
            " left join orders o on o.decision_key = a.signal_key"
            " left join proposals p on p.decision_key = a.signal_key"
            " where a.outcome is null order by a.launched_at, a.signal_key")

    @_retried
    def unsent_copies(self, older_than_s: float, now: float | None = None) -> list[dict]:
        """Copy decisions older than ``older_than_s`` that never got an order."""
        now = self.clock() if now is None else now
        return self._rows(
            "select d.*, s.token_id, s.condition_id, s.side from decisions d join signals s"
            " on s.signal_key = d.signal_key left join orders o on o.decision_key = d.signal_key"
            " where d.decision = 'copy' and o.decision_key is null and d.decided_at < ?", (now - older_than_s,))

    @_retried
    def attempts(self, signal_key: str) -> list[dict]:
        return self._rows("select * from signal_attempts where signal_key = ? order by attempt", (signal_key,))

    @_retried
    def undecided_signals(self, older_than_s: float = 0.0, now: float | None = None) -> list[dict]:
        """Signals seen more than ``older_than_s`` ago and still without a decision, oldest first."""
        now = self.clock() if now is None else now
        return self._rows(
            "select s.* from signals s left join decisions d on d.signal_key = s.signal_key"
            " where d.signal_key is null and s.first_seen_at <= ? order by s.first_seen_at, s.signal_key",
            (now - older_than_s,))

    @_retried
    def mark_alerted(self, signal_keys: list[str], now: float | None = None) -> None:
        now = self.clock() if now is None else now
        with self.tx() as cur:
            for key in signal_keys:
                cur.execute(self._sql("update signals set alerted_at = ? where signal_key = ? and alerted_at is null"),
                            (now, key))

    # ---- decisions and orders -------------------------------------------------------
    @_retried
    def claim_decision(self, signal_key: str, decision: str, stage: str, reason: str, details: dict,
                       run_id: str | None) -> bool:
        """Write the decision for a signal unless one exists; True if this call decided."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into decisions (signal_key, decision, stage, reason, details, decided_at, run_id)"
                " values (?, ?, ?, ?, ?, ?, ?) on conflict do nothing"),
                (signal_key, decision, stage, reason, json.dumps(details, sort_keys=True, default=str),
                 self.clock(), run_id))
            return cur.rowcount == 1

    @_retried
    def create_pending_order(self, order_id: str, decision_key: str, venue: str, token_id: str, condition_id: str,
                             side: str, order_type: str, limit_price: float, shares: float,
                             status: str = "pending", reason: str | None = None) -> bool:
        """Save the order as pending before it is sent; False if the decision has one. An
        order that is not to be sent is saved directly with its final ``status`` and ``reason``."""
        now = self.clock()
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into orders (order_id, decision_key, venue, token_id, condition_id, side, order_type,"
                " limit_price, shares, status, reason, created_at, updated_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing"),
                (order_id, decision_key, venue, token_id, condition_id, side, order_type, limit_price, shares, status,
                 reason, now, now))
            return cur.rowcount == 1

    def _lock_orders(self, cur) -> None:
        if self.backend == "postgres":  # SQLite's BEGIN IMMEDIATE already admits one writer at a time
            cur.execute("lock table orders in share row exclusive mode")

    def _sellable(self, cur, token_id: str) -> float:
        """Shares of ``token_id`` held (all fills) less those pending SELL orders may still sell."""
        cur.execute(self._sql(
            "select coalesce(sum(case when side = 'BUY' then shares else -shares end), 0) from fills"
            " where token_id = ?"), (token_id,))
        held = float(cur.fetchone()[0] or 0.0)
        cur.execute(self._sql(
            "select coalesce(sum(shares), 0) from orders where token_id = ? and side = 'SELL'"
            " and status = 'pending'"), (token_id,))
        return held - float(cur.fetchone()[0] or 0.0)

    @_retried
    def sellable_shares(self, token_id: str) -> float:
        """Shares of a token held less what its pending SELL orders may still sell."""
        with self.tx() as cur:
            return self._sellable(cur, token_id)

    @_retried
    def create_sell_order(self, order_id: str, decision_key: str, venue: str, token_id: str, condition_id: str,
                          order_type: str, limit_price: float, shares: float, min_shares: float = 0.0
                          ) -> tuple[bool, float]:
        """Save a SELL as pending, never for more than is held less what pending SELLs of the
        token may still sell, in one transaction with every other order's creation (so two
        exits decided at once can never sell a share twice). Sizes are floored to 0.01 share.
        Below ``min_shares`` nothing is left to sell: the order is saved ``cancelled``.
        Returns (True if this call saved the order as pending, the shares it is for)."""
        now = self.clock()
        with self.tx() as cur:
            self._lock_orders(cur)
            cur.execute(self._sql("select 1 from orders where decision_key = ?"), (decision_key,))
            if cur.fetchone() is not None:
                return False, 0.0
            available = int(max(self._sellable(cur, token_id), 0.0) / 0.01 + 1e-9) * 0.01
            q = round(min(shares, available), 2)
            status, reason = "pending", None
            if q <= 0 or q < min_shares - 1e-9:
                status = "cancelled"
                reason = (f"nothing left to sell: {available:.2f} shares free of pending sells" if q <= 0 else
                          f"{q:.2f} shares left to sell, below the minimum order of {min_shares:g}")
            cur.execute(self._sql(
                "insert into orders (order_id, decision_key, venue, token_id, condition_id, side, order_type,"
                " limit_price, shares, status, reason, created_at, updated_at)"
                " values (?, ?, ?, ?, ?, 'SELL', ?, ?, ?, ?, ?, ?, ?)"),
                (order_id, decision_key, venue, token_id, condition_id, order_type, limit_price, q if q > 0 else shares,
                 status, reason, now, now))
            return status == "pending", q

    @_retried
    def record_settlement(self, position_id: str, token_id: str, condition_id: str, payout: float, reason: str
                          ) -> float:
        """Settle what is held of a resolved market's token at its payout (USD/share: 1, 0,
        0.5 void): a filled REDEEM order and its fill, without a fee, in one transaction.
        Idempotent: a position settled before, or nothing held, changes nothing. A token
        with a SELL still pending is left for the next pass (its fills must come first).
        Returns the shares settled."""
        now = self.clock()
        key = f"settle-{position_id}"
        with self.tx() as cur:
            self._lock_orders(cur)
            cur.execute(self._sql("select 1 from orders where decision_key = ?"), (key,))
            if cur.fetchone() is not None:
                return 0.0
            cur.execute(self._sql("select count(*) from orders where token_id = ? and status = 'pending'"),
                        (token_id,))
            if int(cur.fetchone()[0]) > 0:
                return 0.0
            held = self._sellable(cur, token_id)
            if held <= 1e-9:
                return 0.0
            cur.execute(self._sql(
                "insert into orders (order_id, decision_key, venue, token_id, condition_id, side, order_type,"
                " limit_price, shares, status, reason, created_at, updated_at)"
                " values (?, ?, 'settlement', ?, ?, 'SELL', 'REDEEM', ?, ?, 'filled', ?, ?, ?)"),
                (key, key, token_id, condition_id, payout, held, reason, now, now))
            cur.execute(self._sql(
                "insert into fills (fill_id, order_id, token_id, side, price, shares, fee_usd, filled_at)"
                " values (?, ?, ?, 'SELL', ?, ?, 0, ?)"), (f"{key}-0", key, token_id, payout, held, now))
            return held

    @_retried
    def claim_exit_decision(self, position_id: str, seq: int, token_id: str, condition_id: str, decision: str,
                            rule: str, reason: str, details: dict, shares: float, limit_price: float | None,
                            run_id: str | None) -> bool:
        """Record the exit decision of pass ``seq`` on a position (sell or hold) unless one is
        recorded; True if this call decided. Its key is ``exit_key(position_id, seq)``."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into exit_decisions (exit_key, position_id, seq, token_id, condition_id, decision, rule, reason,"
                " details, shares, limit_price, decided_at, run_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " on conflict do nothing"),
                (exit_key(position_id, seq), position_id, seq, token_id, condition_id, decision, rule, reason,
                 json.dumps(details, sort_keys=True, default=str), shares, limit_price, self.clock(), run_id))
            return cur.rowcount == 1

    @_retried
    def exit_decision(self, key: str) -> dict | None:
        rows = self._rows("select * from exit_decisions where exit_key = ?", (key,))
        return rows[0] if rows else None

    @_retried
    def exit_decisions(self, position_id: str | None = None) -> list[dict]:
        """Exit decisions, oldest first (of one position when given)."""
        if position_id is None:
            return self._rows("select * from exit_decisions order by decided_at, exit_key")
        return self._rows("select * from exit_decisions where position_id = ? order by seq", (position_id,))

    @_retried
    def exit_progress(self) -> dict[str, dict]:
        """Per position with exit decisions: the next pass's ``seq``, the last one's and its
        rule, and whether it is unfinished (a sell whose order is missing or pending) — its
        order missing means its run died between deciding and sending."""
        rows = self._rows(
            "select e.position_id, e.seq, e.decision, e.rule, o.status from exit_decisions e"
            " left join orders o on o.decision_key = e.exit_key"
            " where e.seq = (select max(seq) from exit_decisions x where x.position_id = e.position_id)")
        return {r["position_id"]: {"next_seq": int(r["seq"]) + 1, "last_seq": int(r["seq"]), "rule": r["rule"],
                                   "unfinished": r["decision"] == "sell" and r["status"] in (None, "pending"),
                                   "order_missing": r["decision"] == "sell" and r["status"] is None}
                for r in rows}

    @_retried
    def position_mark(self, position_id: str) -> dict | None:
        rows = self._rows("select * from position_marks where position_id = ?", (position_id,))
        return rows[0] if rows else None

    @_retried
    def ratchet_position_mark(self, position_id: str, token_id: str, high_water: float | None,
                              trail_stop: float | None, atr: float | None, atr_at: float | None = None) -> dict:
        """Keep the highest price since entry and the trailing stop, each only ever raised
        (a lower value than the stored one is ignored), and the latest ATR with when it was
        computed (``atr_at``; None keeps the stored one). Returns the stored row."""
        now = self.clock()
        with self.tx() as cur:
            cur.execute(self._sql("select high_water, trail_stop, atr, atr_at from position_marks"
                                  " where position_id = ?"), (position_id,))
            row = cur.fetchone()
            hi = lambda a, b: b if a is None else (a if b is None else max(a, b))  # noqa: E731
            if row is None:
                cur.execute(self._sql(
                    "insert into position_marks (position_id, token_id, high_water, trail_stop, atr, atr_at,"
                    " updated_at) values (?, ?, ?, ?, ?, ?, ?)"),
                    (position_id, token_id, high_water, trail_stop, atr, atr_at, now))
            else:
                high_water, trail_stop = hi(row[0], high_water), hi(row[1], trail_stop)
                if atr_at is None:
                    atr, atr_at = row[2], row[3]
                cur.execute(self._sql(
                    "update position_marks set high_water = ?, trail_stop = ?, atr = ?, atr_at = ?, updated_at = ?"
                    " where position_id = ?"), (high_water, trail_stop, atr, atr_at, now, position_id))
        return {"position_id": position_id, "high_water": high_water, "trail_stop": trail_stop, "atr": atr,
                "atr_at": atr_at}

    @_retried
    def removed_wallets(self) -> dict[str, str]:
        """Scored wallets that are no longer to be followed: excluded (a red flag or a market
        maker) or quarantined. Wallet -> why."""
        rows = self._rows("select wallet_address, excluded, state from wallet_profiles"
                          " where excluded = 1 or state = 'quarantined'")
        return {r["wallet_address"]: "excluded" if int(r["excluded"]) else "quarantined" for r in rows}

    @_retried
    def settle_order(self, order_id: str, status: str, reason: str | None, venue_order_id: str | None,
                     fills: list[tuple[str, str, str, float, float, float]]) -> None:
        """Record the venue's answer: final status and fills
        ``(fill_id, token_id, side, price, shares, fee_usd)``, atomically."""
        now = self.clock()
        with self.tx() as cur:
            cur.execute(self._sql(
                "update orders set status = ?, reason = ?, venue_order_id = coalesce(?, venue_order_id), updated_at = ?"
                " where order_id = ? and status = 'pending'"),
                (status, reason, venue_order_id, now, order_id))
            if cur.rowcount != 1:
                return  # already settled by a concurrent reconciliation
            for fill_id, token_id, side, price, shares, fee in fills:
                cur.execute(self._sql(
                    "insert into fills (fill_id, order_id, token_id, side, price, shares, fee_usd, filled_at)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing"),
                    (fill_id, order_id, token_id, side, price, shares, fee, now))

    @_retried
    def create_proposal(self, proposal_id: str, decision_key: str, kind: str, token_id: str, condition_id: str,
                        side: str, shares: float, usd: float, limit_price: float, confidence: float | None,
                        details: dict, created_at: float, expires_at: float) -> bool:
        """Record an order awaiting approval (pending); False if the decision has one."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into proposals (proposal_id, decision_key, kind, token_id, condition_id, side, shares, usd,"
                " limit_price, confidence, details, created_at, expires_at, status, updated_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?) on conflict do nothing"),
                (proposal_id, decision_key, kind, token_id, condition_id, side, shares, usd, limit_price, confidence,
                 json.dumps(details, sort_keys=True, default=str), created_at, expires_at, created_at))
            return cur.rowcount == 1

    @_retried
    def resolve_proposal(self, proposal_id: str, status: str, actor: str, reason: str, values: dict) -> bool:
        """Move a pending proposal to ``status`` and record the action (actor, time, reason,
        the values behind it) in one transaction; False if it was not pending any more."""
        now = self.clock()
        with self.tx() as cur:
            cur.execute(self._sql("update proposals set status = ?, updated_at = ? where proposal_id = ?"
                                  " and status = 'pending'"), (status, now, proposal_id))
            if cur.rowcount != 1:
                return False
            cur.execute(self._sql(
                "insert into order_actions (action_id, proposal_id, action, actor, reason, details, acted_at)"
                " values (?, ?, ?, ?, ?, ?, ?)"),
                (uuid.uuid4().hex, proposal_id, status, actor, reason,
                 json.dumps(values, sort_keys=True, default=str), now))
            return True

    @_retried
    def proposal(self, proposal_id: str) -> dict | None:
        rows = self._rows("select * from proposals where proposal_id = ?", (proposal_id,))
        return rows[0] if rows else None

    @_retried
    def proposals(self, status: str | None = None) -> list[dict]:
        """Proposals, oldest first (``status``: only those)."""
        if status is None:
            return self._rows("select * from proposals order by created_at, proposal_id")
        return self._rows("select * from proposals where status = ? order by created_at, proposal_id", (status,))

    @_retried
    def order_actions(self, proposal_id: str | None = None) -> list[dict]:
        """The approval audit trail (of one proposal), in order."""
        if proposal_id is None:
            return self._rows("select * from order_actions order by acted_at, action_id")
        return self._rows("select * from order_actions where proposal_id = ? order by acted_at, action_id",
                          (proposal_id,))

    @_retried
    def cash_flow_usd(self) -> float:
        """What the ledger's fills moved in cash, USD: SELL proceeds and settlements less BUY
        costs, fees deducted."""
        rows = self._rows("select coalesce(sum(case when side = 'SELL' then price * shares - fee_usd"
                          " else -(price * shares + fee_usd) end), 0) as flow from fills")
        return float(rows[0]["flow"] or 0.0)

    @_retried
    def record_venue_snapshot(self, venue: str, wallet: str, collateral_usd: float, ledger_cash_flow_usd: float,
                              is_baseline: bool, reason: str) -> None:
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into venue_snapshots (snapshot_id, venue, wallet, collateral_usd, ledger_cash_flow_usd,"
                " is_baseline, reason, taken_at) values (?, ?, ?, ?, ?, ?, ?, ?)"),
                (uuid.uuid4().hex, venue, wallet, collateral_usd, ledger_cash_flow_usd, int(is_baseline), reason,
                 self.clock()))

    @_retried
    def venue_baseline(self, wallet: str) -> dict | None:
        """The newest baseline snapshot of a venue wallet (None before the first)."""
        rows = self._rows("select * from venue_snapshots where wallet = ? and is_baseline = 1"
                          " order by taken_at desc limit 1", (wallet,))
        return rows[0] if rows else None

    @_retried
    def record_venue_order_id(self, order_id: str, venue_order_id: str) -> None:
        """Remember the id the venue will know a pending order by, before it is sent: after a
        crash the order is looked up by it, never re-sent."""
        with self.tx() as cur:
            cur.execute(self._sql("update orders set venue_order_id = ?, updated_at = ? where order_id = ?"
                                  " and status = 'pending'"), (venue_order_id, self.clock(), order_id))

    @_retried
    def count_orders(self, venue: str) -> int:
        """How many orders went to ``venue`` (paper, live, settlement...)."""
        return int(self._rows("select count(*) as n from orders where venue = ?", (venue,))[0]["n"])

    @_retried
    def order(self, order_id: str) -> dict | None:
        rows = self._rows("select * from orders where order_id = ?", (order_id,))
        return rows[0] if rows else None

    @_retried
    def record_feed_rejects(self, rejects) -> int:
        """Keep malformed feed records aside (``Rejected`` objects); returns new ones."""
        new = 0
        with self.tx() as cur:
            for r in rejects:
                cur.execute(self._sql(
                    "insert into feed_rejects (reject_key, source, reason, payload, seen_at)"
                    " values (?, ?, ?, ?, ?) on conflict do nothing"),
                    (r.reject_key, r.source, r.reason, r.payload, self.clock()))
                new += cur.rowcount
        return new

    @_retried
    def record_paper_execution(self, order_id: str, status: str, filled_shares: float, avg_price: float | None,
                               fee_usd: float, levels_json: str, reason: str | None) -> None:
        """The paper venue's own record of an order (first write wins, as at a real venue)."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into paper_executions (order_id, status, filled_shares, avg_price, fee_usd, levels, reason,"
                " executed_at) values (?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing"),
                (order_id, status, filled_shares, avg_price, fee_usd, levels_json, reason, self.clock()))

    @_retried
    def publish_watchlist(self, members: list[dict], as_of_date: str) -> None:
        """Replace the followed watchlist in one transaction (``members``: wallet_address,
        position, wqs, wqs_lower, tier, tier_max_exposure, tier_max_daily_trades)."""
        now = self.clock()
        with self.tx() as cur:
            cur.execute("delete from watchlist")
            for m in members:
                cur.execute(self._sql(
                    "insert into watchlist (wallet_address, position, wqs, wqs_lower, tier, tier_max_exposure,"
                    " tier_max_daily_trades, as_of_date, published_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (m["wallet_address"].lower(), int(m["position"]), float(m["wqs"]), float(m["wqs_lower"]),
                     m["tier"], float(m["tier_max_exposure"]), int(m["tier_max_daily_trades"]), as_of_date, now))

    @_retried
    def publish_wallet_profiles(self, profiles: list[dict], as_of_date: str) -> None:
        """Replace the wallet profiles in one transaction (``profiles``: wallet_address, wqs,
        wqs_lower, win_rate_posterior, tier, tier_max_exposure, tier_max_daily_trades, excluded
        and, when known, the watchlist ``state``: watching, quarantined or cooldown)."""
        now = self.clock()
        f = lambda x: None if x is None or x != x else float(x)  # noqa: E731  (NaN → NULL)
        with self.tx() as cur:
            cur.execute("delete from wallet_profiles")
            for m in profiles:
                cur.execute(self._sql(
                    "insert into wallet_profiles (wallet_address, wqs, wqs_lower, win_rate, tier, tier_max_exposure,"
                    " tier_max_daily_trades, excluded, state, as_of_date, published_at)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (m["wallet_address"].lower(), f(m["wqs"]), f(m["wqs_lower"]), f(m["win_rate_posterior"]),
                     m["tier"], float(m["tier_max_exposure"]), int(m["tier_max_daily_trades"]), int(bool(m["excluded"])),
                     m.get("state") or "", as_of_date, now))

    @_retried
    def remember_market(self, condition_id: str, category: str, event_slug: str, end_ts: float | None,
                        question: str | None) -> None:
        """Keep a traded market's category and event (first sight wins)."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into market_info (condition_id, category, event_slug, end_ts, question, seen_at)"
                " values (?, ?, ?, ?, ?, ?) on conflict do nothing"),
                (condition_id, category or "", event_slug or "", end_ts, question, self.clock()))

    @_retried
    def record_risk_event(self, kind: str, breaker: str = "", reason: str = "", actor: str = "",
                          ts: float | None = None) -> None:
        """A manual risk action: ``reset`` of a breaker (or "all"), ``kill_switch_on``/``kill_switch_off``."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into risk_events (event_id, ts, kind, breaker, reason, actor) values (?, ?, ?, ?, ?, ?)"),
                (uuid.uuid4().hex, self.clock() if ts is None else ts, kind, breaker, reason, actor))

    @_retried
    def record_nav(self, ts: float, nav_usd: float, cash_usd: float, exposure_usd: float, mvar: float,
                   mvar_band: str, halted: bool, details: dict, run_id: str | None) -> None:
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into nav_snapshots (snapshot_id, ts, nav_usd, cash_usd, exposure_usd, mvar, mvar_band, halted,"
                " details, run_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                (uuid.uuid4().hex, ts, nav_usd, cash_usd, exposure_usd, mvar, mvar_band, int(halted),
                 json.dumps(details, sort_keys=True, default=str), run_id))

    # ---- reads ---------------------------------------------------------------------
    @_retried
    def wallet_profile(self, wallet: str) -> dict | None:
        rows = self._rows("select p.*, case when w.wallet_address is null then 0 else 1 end as on_watchlist"
                          " from wallet_profiles p left join watchlist w on w.wallet_address = p.wallet_address"
                          " where p.wallet_address = ?", (wallet.lower(),))
        return rows[0] if rows else None

    @_retried
    def fill_rows(self) -> list[dict]:
        """Our fills with the source wallet of their order and their market's category and event."""
        return self._rows(
            "select f.filled_at as ts, f.order_id, f.token_id, o.condition_id, f.side, f.price, f.shares, f.fee_usd,"
            " coalesce(s.proxy_wallet, '') as wallet, coalesce(m.category, '') as category,"
            " coalesce(m.event_slug, '') as event_slug"
            " from fills f join orders o on o.order_id = f.order_id"
            " left join signals s on s.signal_key = o.decision_key"
            " left join market_info m on m.condition_id = o.condition_id"
            " order by f.filled_at, f.fill_id")

    @_retried
    def risk_events(self) -> list[dict]:
        return self._rows("select * from risk_events order by ts")

    @_retried
    def nav_history(self, since_ts: float = 0.0) -> list[dict]:
        return self._rows("select ts, nav_usd from nav_snapshots where ts >= ? order by ts", (since_ts,))

    @_retried
    def latest_nav_snapshot(self) -> dict | None:
        rows = self._rows("select * from nav_snapshots order by ts desc limit 1")
        return rows[0] if rows else None

    @_retried
    def wallet_copies_since(self, wallet: str, since_ts: float) -> int:
        """Copies (BUY signals decided 'copy') of a source wallet decided since ``since_ts``."""
        rows = self._rows(
            "select count(*) as n from decisions d join signals s on s.signal_key = d.signal_key"
            " where s.proxy_wallet = ? and s.side = 'BUY' and d.decision = 'copy' and d.decided_at >= ?",
            (wallet.lower(), since_ts))
        return int(rows[0]["n"])

    @_retried
    def signal_stats(self) -> dict:
        """BUY signals decided, copied, and rejected per stage; pass-through = copied / decided."""
        rows = self._rows(
            "select d.stage, d.decision, count(*) as n from decisions d join signals s"
            " on s.signal_key = d.signal_key where s.side = 'BUY' group by d.stage, d.decision")
        decided = sum(int(r["n"]) for r in rows)
        copied = sum(int(r["n"]) for r in rows if r["decision"] == "copy")
        by_stage = {r["stage"]: int(r["n"]) for r in rows if r["decision"] == "skip"}
        return {"signals": decided, "copied": copied, "rejected_by_stage": by_stage,
                "pass_through_rate": copied / decided if decided else None}

    @_retried
    def watchlist(self) -> list[dict]:
        """The published watchlist, best first."""
        return self._rows("select * from watchlist order by position")

    @_retried
    def paper_execution(self, order_id: str) -> dict | None:
        rows = self._rows("select * from paper_executions where order_id = ?", (order_id,))
        return rows[0] if rows else None

    @_retried
    def decision(self, signal_key: str) -> dict | None:
        rows = self._rows("select * from decisions where signal_key = ?", (signal_key,))
        return rows[0] if rows else None

    @_retried
    def decision_for_trade(self, trade_key: str) -> dict | None:
        """The decision of the signal a fill belongs to."""
        rows = self._rows("select d.* from decisions d join source_trades t on t.signal_key = d.signal_key"
                          " where t.trade_key = ?", (trade_key,))
        return rows[0] if rows else None

    @_retried
    def decisions_of(self, signal_keys: list[str]) -> list[dict]:
        """The decisions of these signals, in the order they were made."""
        keys = list(signal_keys)
        out: list[dict] = []
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            out += self._rows(f"select * from decisions where signal_key in ({', '.join('?' * len(chunk))})",
                              tuple(chunk))
        return sorted(out, key=lambda d: (d["decided_at"], d["signal_key"]))

    @_retried
    def source_trade(self, trade_key: str) -> dict | None:
        """A seen source fill; ``payload`` is its internal Trade record as JSON."""
        rows = self._rows("select * from source_trades where trade_key = ?", (trade_key,))
        return rows[0] if rows else None

    @_retried
    def order_for(self, decision_key: str) -> dict | None:
        """The order that carries out a decision (on a signal, an exit or a settlement)."""
        rows = self._rows("select * from orders where decision_key = ?", (decision_key,))
        return rows[0] if rows else None

    @_retried
    def pending_orders(self) -> list[dict]:
        return self._rows("select * from orders where status = 'pending' order by created_at")

    @_retried
    def position_shares(self, token_id: str) -> float:
        """Shares we hold in a token (buys minus sells over all fills)."""
        rows = self._rows(
            "select coalesce(sum(case when side = 'BUY' then shares else -shares end), 0) as shares"
            " from fills where token_id = ?", (token_id,))
        return float(rows[0]["shares"] or 0.0)

    @_retried
    def fills_for_order(self, order_id: str) -> list[dict]:
        return self._rows("select * from fills where order_id = ? order by fill_id", (order_id,))

    @_retried
    def orders(self) -> list[dict]:
        return self._rows("select * from orders order by created_at")

    @_retried
    def fills(self) -> list[dict]:
        return self._rows("select * from fills order by filled_at")

    @_retried
    def decisions(self) -> list[dict]:
        return self._rows("select * from decisions order by decided_at")

    @_retried
    def summary(self) -> dict:
        rows = self._rows(
            "select (select count(*) from source_trades) as trades_seen,"
            " (select count(*) from signals) as signals,"
            " (select count(*) from decisions) as decisions,"
            " (select count(*) from signals s where not exists"
            "    (select 1 from decisions d where d.signal_key = s.signal_key)) as undecided,"
            " (select count(*) from decisions where decision = 'copy') as copied,"
            " (select count(*) from orders) as orders,"
            " (select count(*) from orders where status = 'filled') as filled,"
            " (select count(*) from orders where status = 'pending') as pending,"
            " (select coalesce(sum(fee_usd), 0) from fills) as fees_usd")
        return rows[0]


class _SqliteConnection:
    """A sqlite3 connection whose transactions are explicit ``BEGIN IMMEDIATE`` (one writer
    at a time, waiting up to 30 s for the lock)."""

    closed = False

    def __init__(self, path: str):
        self.con = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self.con.execute("pragma journal_mode=wal")
        self.con.execute("pragma synchronous=normal")
        self.con.execute("pragma busy_timeout=30000")

    def begin(self):
        self.con.execute("begin immediate")

    def cursor(self):
        return self.con.cursor()

    def commit(self):
        self.con.execute("commit")

    def rollback(self):
        if self.con.in_transaction:
            self.con.execute("rollback")

    def close(self):
        self.closed = True
        self.con.close()


class _PostgresConnection:
    """A psycopg2 connection (transactions begin implicitly at the first statement)."""

    def __init__(self, dsn: str):
        self.con = pg_connect(dsn)

    @property
    def closed(self) -> bool:
        return bool(self.con.closed)

    def begin(self):
        pass

    def cursor(self):
        return self.con.cursor()

    def commit(self):
        self.con.commit()

    def rollback(self):
        self.con.rollback()

    def close(self):
        self.con.close()


def _at_head(ledger: Ledger) -> bool:
    try:
        rows = ledger._rows(f"select version_num from {VERSION_TABLE}")
    except Exception:  # noqa: BLE001 - no version table yet (or no server): Alembic decides, with retries
        ledger.close()
        return False
    return [r["version_num"] for r in rows] == [HEAD_REVISION]


def upgrade(ledger: Ledger, settings: LedgerSettings, revision: str = "head") -> None:
    """Bring the ledger's schema to ``revision`` (once per process at head); a ledger from
    before versioned migrations is adopted by the idempotent baseline."""
    if revision == "head" and _at_head(ledger):
        return
    import sqlalchemy as sa

    from polycopy import migrations

    if settings.backend == "sqlite":
        key = f"sqlite:{Path(settings.sqlite_path).resolve()}"
        engine = lambda: sa.create_engine(f"sqlite:///{settings.sqlite_path}", poolclass=sa.pool.NullPool)  # noqa: E731
    else:
        key = f"postgres:{settings.pg_dsn}"
        engine = lambda: sa.create_engine("postgresql+psycopg2://", poolclass=sa.pool.NullPool,  # noqa: E731
                                          creator=lambda: pg_connect(settings.pg_dsn))
    settings.retry.call(migrations.upgrade_database, engine, MIGRATIONS_DIR, key=key, version_table=VERSION_TABLE,
                        revision=revision)


def open_ledger(settings: LedgerSettings, migrate: bool = True, clock=None) -> Ledger:
    """The configured ledger, its schema upgraded to the newest revision. ``clock`` (unix s,
    default the wall clock) stamps its rows."""
    if settings.backend == "sqlite":
        Path(settings.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        ledger = Ledger(lambda: _SqliteConnection(settings.sqlite_path), "?", "sqlite", settings.retry, clock)
    elif settings.backend == "postgres":
        ledger = Ledger(lambda: _PostgresConnection(settings.pg_dsn), "%s", "postgres", settings.retry, clock)
    else:
        raise ValueError(f"unknown ledger backend {settings.backend!r}; use 'sqlite' or 'postgres'")
    if migrate:
        upgrade(ledger, settings)
    return ledger
