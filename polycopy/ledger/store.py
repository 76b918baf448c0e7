"""The trading ledger: source trades seen, decisions, orders, fills.

Safe for concurrent copy-trade runs: SQLite in WAL mode (embedded default) or
PostgreSQL (production). At-most-once rests on primary keys: a trade can be
decided once (``decisions.trade_key``), and has at most one order
(``orders.trade_key`` is unique). Times are unix seconds (float, wall clock).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from polycopy.db import transaction

LEDGER_DDL: tuple[str, ...] = (
    """create table if not exists source_trades (
        trade_key varchar primary key,
        proxy_wallet varchar not null,
        condition_id varchar not null,
        token_id varchar not null,
        side varchar not null,
        size double precision not null,
        price double precision not null,
        trade_ts bigint not null,
        seen_at double precision not null,
        payload text not null
    )""",
    """create table if not exists decisions (
        trade_key varchar primary key,
        decision varchar not null,
        stage varchar not null,
        reason varchar not null,
        details text not null,
        decided_at double precision not null,
        run_id varchar
    )""",
    """create table if not exists orders (
        order_id varchar primary key,
        trade_key varchar not null unique,
        venue varchar not null,
        token_id varchar not null,
        condition_id varchar not null,
        side varchar not null,
        order_type varchar not null,
        limit_price double precision not null,
        shares double precision not null,
        status varchar not null,
        venue_order_id varchar,
        reason varchar,
        created_at double precision not null,
        updated_at double precision not null
    )""",
    """create table if not exists fills (
        fill_id varchar primary key,
        order_id varchar not null,
        token_id varchar not null,
        side varchar not null,
        price double precision not null,
        shares double precision not null,
        fee_usd double precision not null,
        filled_at double precision not null
    )""",
    """create table if not exists feed_rejects (
        reject_key varchar primary key,
        source varchar not null,
        reason varchar not null,
        payload text not null,
        seen_at double precision not null
    )""",
    # The wallets the copy sensor follows, published by the whale_watchlist asset.
    """create table if not exists watchlist (
        wallet_address varchar primary key,
        position integer not null,
        wqs double precision not null,
        wqs_lower double precision not null,
        tier varchar not null,
        tier_max_exposure double precision not null,
        tier_max_daily_trades integer not null,
        as_of_date varchar not null,
        published_at double precision not null
    )""",
    # Every scored wallet as the decision chain needs it (published with the watchlist).
    """create table if not exists wallet_profiles (
        wallet_address varchar primary key,
        wqs double precision,
        wqs_lower double precision,
        win_rate double precision,
        tier varchar not null,
        tier_max_exposure double precision not null,
        tier_max_daily_trades integer not null,
        excluded integer not null,
        as_of_date varchar not null,
        published_at double precision not null
    )""",
    # What we know of the markets we trade: category and event group our exposure.
    """create table if not exists market_info (
        condition_id varchar primary key,
        category varchar not null,
        event_slug varchar not null,
        end_ts double precision,
        question varchar,
        seen_at double precision not null
    )""",
    # Manual risk actions: breaker resets and the kill switch (append-only).
    """create table if not exists risk_events (
        event_id varchar primary key,
        ts double precision not null,
        kind varchar not null,
        breaker varchar not null,
        reason varchar not null,
        actor varchar not null
    )""",
    # The portfolio as portfolio_risk found it, each time it was assessed.
    """create table if not exists nav_snapshots (
        snapshot_id varchar primary key,
        ts double precision not null,
        nav_usd double precision not null,
        cash_usd double precision not null,
        exposure_usd double precision not null,
        mvar double precision not null,
        mvar_band varchar not null,
        halted integer not null,
        details text not null,
        run_id varchar
    )""",
    """create table if not exists paper_executions (
        order_id varchar primary key,
        status varchar not null,
        filled_shares double precision not null,
        avg_price double precision,
        fee_usd double precision not null,
        levels text not null,
        reason varchar,
        executed_at double precision not null
    )""",
)

ORDER_OPEN_STATUSES = ("pending",)


@dataclass(frozen=True)
class LedgerSettings:
    """``backend`` is "sqlite" (embedded default) or "postgres"."""

    backend: str = "sqlite"
    sqlite_path: str = ".data/ledger.sqlite"
    pg_dsn: str = "host=127.0.0.1 port=5432 user=postgres dbname=polycopy"


class Ledger:
    """Ledger operations over a DB-API connection factory."""

    def __init__(self, connect, param: str, backend: str):
        self._connect = connect
        self._p = param
        self.backend = backend

    def tx(self):
        """A transaction: ``with ledger.tx() as cur: ...``."""
        return transaction(self._connect)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._p)

    def ensure_schema(self) -> None:
        with self.tx() as cur:
            for stmt in LEDGER_DDL:
                cur.execute(stmt)

    # ---- writes --------------------------------------------------------------------
    def record_seen(self, trade_key: str, wallet: str, condition_id: str, token_id: str, side: str,
                    size: float, price: float, trade_ts: int, payload: dict, seen_at: float | None = None) -> bool:
        """Remember a source trade; returns False if it was already known."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into source_trades (trade_key, proxy_wallet, condition_id, token_id, side, size, price,"
                " trade_ts, seen_at, payload) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing"),
                (trade_key, wallet, condition_id, token_id, side, size, price, trade_ts,
                 seen_at if seen_at is not None else time.time(), json.dumps(payload, sort_keys=True)))
            return cur.rowcount == 1

    def claim_decision(self, trade_key: str, decision: str, stage: str, reason: str, details: dict,
                       run_id: str | None) -> bool:
        """Write the decision for a trade unless one exists; True if this call decided."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into decisions (trade_key, decision, stage, reason, details, decided_at, run_id)"
                " values (?, ?, ?, ?, ?, ?, ?) on conflict do nothing"),
                (trade_key, decision, stage, reason, json.dumps(details, sort_keys=True, default=str),
                 time.time(), run_id))
            return cur.rowcount == 1

    def create_pending_order(self, order_id: str, trade_key: str, venue: str, token_id: str, condition_id: str,
                             side: str, order_type: str, limit_price: float, shares: float) -> bool:
        """Save the order as pending before it is sent; False if the trade has one."""
        now = time.time()
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into orders (order_id, trade_key, venue, token_id, condition_id, side, order_type,"
                " limit_price, shares, status, created_at, updated_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) on conflict do nothing"),
                (order_id, trade_key, venue, token_id, condition_id, side, order_type, limit_price, shares, now, now))
            return cur.rowcount == 1

    def settle_order(self, order_id: str, status: str, reason: str | None, venue_order_id: str | None,
                     fills: list[tuple[str, str, str, float, float, float]]) -> None:
        """Record the venue's answer: final status and fills
        ``(fill_id, token_id, side, price, shares, fee_usd)``, atomically."""
        now = time.time()
        with self.tx() as cur:
            cur.execute(self._sql(
                "update orders set status = ?, reason = ?, venue_order_id = ?, updated_at = ?"
                " where order_id = ? and status = 'pending'"),
                (status, reason, venue_order_id, now, order_id))
            if cur.rowcount != 1:
                return  # already settled by a concurrent reconciliation
            for fill_id, token_id, side, price, shares, fee in fills:
                cur.execute(self._sql(
                    "insert into fills (fill_id, order_id, token_id, side, price, shares, fee_usd, filled_at)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing"),
                    (fill_id, order_id, token_id, side, price, shares, fee, now))

    def record_feed_rejects(self, rejects) -> int:
        """Keep malformed feed records aside (``Rejected`` objects); returns new ones."""
        new = 0
        with self.tx() as cur:
            for r in rejects:
                cur.execute(self._sql(
                    "insert into feed_rejects (reject_key, source, reason, payload, seen_at)"
                    " values (?, ?, ?, ?, ?) on conflict do nothing"),
                    (r.reject_key, r.source, r.reason, r.payload, time.time()))
                new += cur.rowcount
        return new

    def record_paper_execution(self, order_id: str, status: str, filled_shares: float, avg_price: float | None,
                               fee_usd: float, levels_json: str, reason: str | None) -> None:
        """The paper venue's own record of an order (first write wins, as at a real venue)."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into paper_executions (order_id, status, filled_shares, avg_price, fee_usd, levels, reason,"
                " executed_at) values (?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing"),
                (order_id, status, filled_shares, avg_price, fee_usd, levels_json, reason, time.time()))

    def publish_watchlist(self, members: list[dict], as_of_date: str) -> None:
        """Replace the followed watchlist in one transaction (``members``: wallet_address,
        position, wqs, wqs_lower, tier, tier_max_exposure, tier_max_daily_trades)."""
        now = time.time()
        with self.tx() as cur:
            cur.execute("delete from watchlist")
            for m in members:
                cur.execute(self._sql(
                    "insert into watchlist (wallet_address, position, wqs, wqs_lower, tier, tier_max_exposure,"
                    " tier_max_daily_trades, as_of_date, published_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (m["wallet_address"].lower(), int(m["position"]), float(m["wqs"]), float(m["wqs_lower"]),
                     m["tier"], float(m["tier_max_exposure"]), int(m["tier_max_daily_trades"]), as_of_date, now))

    def publish_wallet_profiles(self, profiles: list[dict], as_of_date: str) -> None:
        """Replace the wallet profiles in one transaction (``profiles``: wallet_address, wqs,
        wqs_lower, win_rate_posterior, tier, tier_max_exposure, tier_max_daily_trades, excluded)."""
        now = time.time()
        f = lambda x: None if x is None or x != x else float(x)  # noqa: E731  (NaN → NULL)
        with self.tx() as cur:
            cur.execute("delete from wallet_profiles")
            for m in profiles:
                cur.execute(self._sql(
                    "insert into wallet_profiles (wallet_address, wqs, wqs_lower, win_rate, tier, tier_max_exposure,"
                    " tier_max_daily_trades, excluded, as_of_date, published_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (m["wallet_address"].lower(), f(m["wqs"]), f(m["wqs_lower"]), f(m["win_rate_posterior"]),
                     m["tier"], float(m["tier_max_exposure"]), int(m["tier_max_daily_trades"]), int(bool(m["excluded"])),
                     as_of_date, now))

    def remember_market(self, condition_id: str, category: str, event_slug: str, end_ts: float | None,
                        question: str | None) -> None:
        """Keep a traded market's category and event (first sight wins)."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into market_info (condition_id, category, event_slug, end_ts, question, seen_at)"
                " values (?, ?, ?, ?, ?, ?) on conflict do nothing"),
                (condition_id, category or "", event_slug or "", end_ts, question, time.time()))

    def record_risk_event(self, kind: str, breaker: str = "", reason: str = "", actor: str = "",
                          ts: float | None = None) -> None:
        """A manual risk action: ``reset`` of a breaker (or "all"), ``kill_switch_on``/``kill_switch_off``."""
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into risk_events (event_id, ts, kind, breaker, reason, actor) values (?, ?, ?, ?, ?, ?)"),
                (uuid.uuid4().hex, time.time() if ts is None else ts, kind, breaker, reason, actor))

    def record_nav(self, ts: float, nav_usd: float, cash_usd: float, exposure_usd: float, mvar: float,
                   mvar_band: str, halted: bool, details: dict, run_id: str | None) -> None:
        with self.tx() as cur:
            cur.execute(self._sql(
                "insert into nav_snapshots (snapshot_id, ts, nav_usd, cash_usd, exposure_usd, mvar, mvar_band, halted,"
                " details, run_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                (uuid.uuid4().hex, ts, nav_usd, cash_usd, exposure_usd, mvar, mvar_band, int(halted),
                 json.dumps(details, sort_keys=True, default=str), run_id))

    # ---- reads ---------------------------------------------------------------------
    def wallet_profile(self, wallet: str) -> dict | None:
        rows = self._rows("select p.*, case when w.wallet_address is null then 0 else 1 end as on_watchlist"
                          " from wallet_profiles p left join watchlist w on w.wallet_address = p.wallet_address"
                          " where p.wallet_address = ?", (wallet.lower(),))
        return rows[0] if rows else None

    def fill_rows(self) -> list[dict]:
        """Our fills with the source wallet of their order and their market's category and event."""
        return self._rows(
            "select f.filled_at as ts, f.order_id, f.token_id, o.condition_id, f.side, f.price, f.shares, f.fee_usd,"
            " coalesce(s.proxy_wallet, '') as wallet, coalesce(m.category, '') as category,"
            " coalesce(m.event_slug, '') as event_slug"
            " from fills f join orders o on o.order_id = f.order_id"
            " left join source_trades s on s.trade_key = o.trade_key"
            " left join market_info m on m.condition_id = o.condition_id"
            " order by f.filled_at, f.fill_id")

    def risk_events(self) -> list[dict]:
        return self._rows("select * from risk_events order by ts")

    def nav_history(self, since_ts: float = 0.0) -> list[dict]:
        return self._rows("select ts, nav_usd from nav_snapshots where ts >= ? order by ts", (since_ts,))

    def latest_nav_snapshot(self) -> dict | None:
        rows = self._rows("select * from nav_snapshots order by ts desc limit 1")
        return rows[0] if rows else None

    def wallet_copies_since(self, wallet: str, since_ts: float) -> int:
        """Copies (BUY decisions to copy) of a source wallet's trades decided since ``since_ts``."""
        rows = self._rows(
            "select count(*) as n from decisions d join source_trades s on s.trade_key = d.trade_key"
            " where s.proxy_wallet = ? and s.side = 'BUY' and d.decision = 'copy' and d.decided_at >= ?",
            (wallet.lower(), since_ts))
        return int(rows[0]["n"])

    def signal_stats(self) -> dict:
        """BUY signals decided, copied, and rejected per stage; pass-through = copied / decided."""
        rows = self._rows(
            "select d.stage, d.decision, count(*) as n from decisions d join source_trades s"
            " on s.trade_key = d.trade_key where s.side = 'BUY' group by d.stage, d.decision")
        decided = sum(int(r["n"]) for r in rows)
        copied = sum(int(r["n"]) for r in rows if r["decision"] == "copy")
        by_stage = {r["stage"]: int(r["n"]) for r in rows if r["decision"] == "skip"}
        return {"signals": decided, "copied": copied, "rejected_by_stage": by_stage,
                "pass_through_rate": copied / decided if decided else None}

    def watchlist(self) -> list[dict]:
        """The published watchlist, best first."""
        return self._rows("select * from watchlist order by position")

    def paper_execution(self, order_id: str) -> dict | None:
        rows = self._rows("select * from paper_executions where order_id = ?", (order_id,))
        return rows[0] if rows else None

    def _rows(self, sql: str, params=()) -> list[dict]:
        with self.tx() as cur:
            cur.execute(self._sql(sql), params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def decision(self, trade_key: str) -> dict | None:
        rows = self._rows("select * from decisions where trade_key = ?", (trade_key,))
        return rows[0] if rows else None

    def decisions_of_run(self, run_id: str) -> list[dict]:
        """Decisions made by one run (retries of a run keep its id; a re-execution does not)."""
        return self._rows("select * from decisions where run_id = ? order by decided_at", (run_id,))

    def source_trade(self, trade_key: str) -> dict | None:
        """A seen source trade; ``payload`` is its internal Trade record as JSON."""
        rows = self._rows("select * from source_trades where trade_key = ?", (trade_key,))
        return rows[0] if rows else None

    def order_for_trade(self, trade_key: str) -> dict | None:
        rows = self._rows("select * from orders where trade_key = ?", (trade_key,))
        return rows[0] if rows else None

    def pending_orders(self) -> list[dict]:
        return self._rows("select * from orders where status = 'pending' order by created_at")

    def position_shares(self, token_id: str) -> float:
        """Shares we hold in a token (buys minus sells over all fills)."""
        rows = self._rows(
            "select coalesce(sum(case when side = 'BUY' then shares else -shares end), 0) as shares"
            " from fills where token_id = ?", (token_id,))
        return float(rows[0]["shares"] or 0.0)

    def fills_for_order(self, order_id: str) -> list[dict]:
        return self._rows("select * from fills where order_id = ? order by fill_id", (order_id,))

    def orders(self) -> list[dict]:
        return self._rows("select * from orders order by created_at")

    def fills(self) -> list[dict]:
        return self._rows("select * from fills order by filled_at")

    def decisions(self) -> list[dict]:
        return self._rows("select * from decisions order by decided_at")

    def summary(self) -> dict:
        rows = self._rows(
            "select (select count(*) from source_trades) as trades_seen,"
            " (select count(*) from decisions) as decisions,"
            " (select count(*) from decisions where decision = 'copy') as copied,"
            " (select count(*) from orders) as orders,"
            " (select count(*) from orders where status = 'filled') as filled,"
            " (select count(*) from orders where status = 'pending') as pending,"
            " (select coalesce(sum(fee_usd), 0) from fills) as fees_usd")
        return rows[0]


def _sqlite_connect(path: str):
    def connect():
        con = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        con.execute("pragma journal_mode=wal")
        con.execute("pragma synchronous=normal")
        con.execute("pragma busy_timeout=30000")
        con.execute("begin immediate")
        return _SqliteTx(con)
    return connect


class _SqliteTx:
    """sqlite3 connection in an explicit ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def cursor(self):
        return self.con.cursor()

    def commit(self):
        self.con.execute("commit")

    def rollback(self):
        try:
            self.con.execute("rollback")
        except sqlite3.OperationalError:
            pass

    def close(self):
        self.con.close()


def open_ledger(settings: LedgerSettings) -> Ledger:
    """The configured ledger with its schema in place."""
    if settings.backend == "sqlite":
        Path(settings.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        ledger = Ledger(_sqlite_connect(settings.sqlite_path), "?", "sqlite")
    elif settings.backend == "postgres":
        import psycopg2

        ledger = Ledger(lambda: psycopg2.connect(settings.pg_dsn), "%s", "postgres")
    else:
        raise ValueError(f"unknown ledger backend {settings.backend!r}; use 'sqlite' or 'postgres'")
    ledger.ensure_schema()
    return ledger
