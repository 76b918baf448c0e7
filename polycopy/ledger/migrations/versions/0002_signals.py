"""Signals: the fills of one whale order, decided once; launch attempts and their failures.

- ``signals``: one row per source signal — the fills of one wallet on one token and side in
  one transaction or within the aggregation window — with when it was first seen and its
  launch attempts (count, next due time, last error, when an overdue alert was raised).
- ``source_trades.signal_key`` names the signal a fill belongs to; ``transaction_hash``
  groups the fills of one transaction.
- ``decisions`` and ``orders`` are keyed by signal (``trade_key`` renamed ``signal_key``).
- ``signal_attempts``: every run launched for a signal and how it ended (the failure's
  error, recorded against the signal).

Existing rows are kept: each fill seen before becomes a one-fill signal whose key is its
trade key, so every existing decision and order keeps its key. A fill that was seen but
never decided becomes an undecided signal that has not been launched, so it is decided
after the upgrade instead of staying lost.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATEMENTS: tuple[str, ...] = (
    "alter table source_trades add column signal_key varchar",
    "alter table source_trades add column transaction_hash varchar",
    "update source_trades set signal_key = trade_key where signal_key is null",
    "create index source_trades_signal_idx on source_trades (signal_key)",
    "create index source_trades_order_idx on source_trades (proxy_wallet, token_id, side, trade_ts)",
    """create table signals (
        signal_key varchar primary key,
        proxy_wallet varchar not null,
        condition_id varchar not null,
        token_id varchar not null,
        side varchar not null,
        first_ts bigint not null,
        last_ts bigint not null,
        first_seen_at double precision not null,
        attempts integer not null default 0,
        launched_at double precision,
        next_attempt_at double precision,
        last_error text,
        alerted_at double precision
    )""",
    "create index signals_order_idx on signals (proxy_wallet, token_id, side, first_ts)",
    """insert into signals (signal_key, proxy_wallet, condition_id, token_id, side, first_ts, last_ts,
                            first_seen_at, attempts)
       select trade_key, proxy_wallet, condition_id, token_id, side, trade_ts, trade_ts, seen_at, 0
       from source_trades""",
    "alter table decisions rename column trade_key to signal_key",
    "alter table orders rename column trade_key to signal_key",
    """create table signal_attempts (
        signal_key varchar not null,
        attempt integer not null,
        run_key varchar not null,
        run_id varchar,
        launched_at double precision not null,
        outcome varchar,
        error text,
        finished_at double precision,
        primary key (signal_key, attempt)
    )""",
    "create index signal_attempts_run_key_idx on signal_attempts (run_key)",
)


def upgrade() -> None:
    for stmt in STATEMENTS:
        op.execute(stmt)
