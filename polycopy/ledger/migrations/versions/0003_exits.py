"""Exits and settlement: exit decisions by rule, the trailing stop's ratchet, the source
wallets' scoring state.

- ``exit_decisions``: one row per exit pass that acted on a position (``position_id``, the
  id of the order that opened it; ``seq``, its passes in order): sell or hold, the rule,
  the reason and the trigger values. An exit run decides one (position, seq), once.
- ``position_marks``: per open position, the highest price seen since entry and the
  trailing stop, which only ratchets up, and the ATR with when it was computed
  (once a day is enough: it is of daily ranges).
- ``orders.signal_key`` is renamed ``decision_key``: an order carries out a decision on a
  signal (an entry or a mirrored exit), an exit decision, or a settlement.
- ``wallet_profiles.state``: the scoring's state of the wallet (watching, quarantined,
  cooldown; empty if it never was on the watchlist), so that a quarantined wallet's
  positions can be exited.

Existing rows are kept; existing orders keep their keys.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS: tuple[str, ...] = (
    "alter table orders rename column signal_key to decision_key",
    "alter table wallet_profiles add column state varchar",
    """create table exit_decisions (
        exit_key varchar primary key,
        position_id varchar not null,
        seq integer not null,
        token_id varchar not null,
        condition_id varchar not null,
        decision varchar not null,
        rule varchar not null,
        reason varchar not null,
        details text not null,
        shares double precision not null,
        limit_price double precision,
        decided_at double precision not null,
        run_id varchar,
        unique (position_id, seq)
    )""",
    """create table position_marks (
        position_id varchar primary key,
        token_id varchar not null,
        high_water double precision,
        trail_stop double precision,
        atr double precision,
        atr_at double precision,
        updated_at double precision not null
    )""",
    "create index orders_token_idx on orders (token_id, status)",
    "create index fills_token_idx on fills (token_id)",
)


def upgrade() -> None:
    for stmt in STATEMENTS:
        op.execute(stmt)
