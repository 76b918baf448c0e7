"""Baseline: the ledger's tables as they stood before versioned migrations.

Statements are idempotent so that a ledger created before migrations existed is
adopted as it is (nothing dropped, nothing rewritten).

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS: tuple[str, ...] = (
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


def upgrade() -> None:
    for stmt in STATEMENTS:
        op.execute(stmt)
