"""Approval mode and live trading: orders proposed to a person, what each person did with
them, and the venue's account as reconciliation last saw it.

- ``proposals``: one row per order awaiting approval — the decision it carries out (an
  entry on a signal, or an exit), the market, side, amount (USD for a BUY, shares for a
  SELL), limit price, the decision's confidence, sizing factors and reasons (``details``),
  when it expires, and its state: ``pending``, ``approved`` (and sent), ``rejected``
  (by a person, or by the re-check on approval) or ``expired``.
- ``order_actions``: the audit trail — every approve, reject and expiry with its actor,
  time and reason, and the values the re-check on approval compared.
- ``venue_snapshots``: the venue account's pUSD balance beside the ledger's cash flow at
  the same moment; the first (or one a person accepted) is the baseline that later cash
  is compared from.

Existing rows are kept: the tables are new.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATEMENTS: tuple[str, ...] = (
    """create table proposals (
        proposal_id varchar primary key,
        decision_key varchar not null unique,
        kind varchar not null,
        token_id varchar not null,
        condition_id varchar not null,
        side varchar not null,
        shares double precision not null,
        usd double precision not null,
        limit_price double precision not null,
        confidence double precision,
        details text not null,
        created_at double precision not null,
        expires_at double precision not null,
        status varchar not null,
        updated_at double precision not null
    )""",
    "create index proposals_status_idx on proposals (status, expires_at)",
    """create table order_actions (
        action_id varchar primary key,
        proposal_id varchar not null,
        action varchar not null,
        actor varchar not null,
        reason varchar not null,
        details text not null,
        acted_at double precision not null
    )""",
    "create index order_actions_proposal_idx on order_actions (proposal_id)",
    """create table venue_snapshots (
        snapshot_id varchar primary key,
        venue varchar not null,
        wallet varchar not null,
        collateral_usd double precision not null,
        ledger_cash_flow_usd double precision not null,
        is_baseline integer not null,
        reason varchar not null,
        taken_at double precision not null
    )""",
)


def upgrade() -> None:
    for stmt in STATEMENTS:
        op.execute(stmt)
