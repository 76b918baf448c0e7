"""Baseline: the raw tables and scoring outputs as they stood before versioned migrations.

Statements are idempotent so that a warehouse created before migrations existed is
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
    "create schema if not exists raw",
    """create table if not exists raw.trades (
        trade_key varchar primary key,
        transaction_hash varchar not null,
        proxy_wallet varchar not null,
        side varchar not null,
        token_id varchar not null,
        condition_id varchar not null,
        size double precision not null,
        price double precision not null,
        usdc_size double precision not null,
        timestamp bigint not null,
        outcome varchar,
        outcome_index integer,
        title varchar,
        slug varchar,
        event_slug varchar,
        name varchar,
        pseudonym varchar,
        source_shape varchar not null,
        partition_day date not null,
        ingested_at timestamp not null
    )""",
    "create index if not exists trades_partition_day_idx on raw.trades (partition_day)",
    """create table if not exists raw.markets (
        condition_id varchar primary key,
        market_id varchar,
        question varchar,
        slug varchar,
        category varchar,
        event_slug varchar,
        start_ts bigint,
        end_ts bigint,
        closed boolean not null,
        closed_ts bigint,
        uma_resolution_status varchar,
        outcomes varchar not null,
        outcome_prices varchar not null,
        token_ids varchar not null,
        protocol_version varchar not null,
        neg_risk boolean not null,
        tick_size double precision,
        min_order_size double precision,
        liquidity double precision,
        volume double precision,
        ingested_at timestamp not null
    )""",
    """create table if not exists raw.market_tokens (
        token_id varchar primary key,
        condition_id varchar not null,
        outcome_index integer not null,
        outcome varchar
    )""",
    """create table if not exists raw.market_resolutions (
        token_id varchar primary key,
        condition_id varchar not null,
        outcome_index integer not null,
        outcome varchar,
        payout double precision not null,
        is_winner boolean not null,
        is_void boolean not null,
        resolved_ts bigint not null,
        early boolean not null,
        partition_day date not null,
        ingested_at timestamp not null
    )""",
    """create table if not exists raw.rejects (
        reject_key varchar primary key,
        source varchar not null,
        reason varchar not null,
        payload varchar not null,
        record_ts bigint,
        partition_key varchar not null,
        first_seen_at timestamp not null
    )""",
    # Scoring outputs (written by the wallet_scores and whale_watchlist assets).
    "create schema if not exists scores",
    """create table if not exists scores.wallet_score_history (
        as_of_date date not null,
        wallet_address varchar not null,
        wqs double precision not null,
        wqs_lower double precision not null,
        win_rate_posterior double precision,
        mean_bet_usd double precision,
        category_count integer,
        return_volatility double precision,
        current_drawdown double precision,
        trade_count integer,
        primary key (as_of_date, wallet_address)
    )""",
    # One snapshot of every wallet's standing per as-of day: re-running a day starts again
    # from the day before, so it gives the same states and events.
    """create table if not exists scores.wallet_states (
        as_of_date date not null,
        wallet_address varchar not null,
        status varchar not null,
        since date not null,
        wqs_at_change double precision not null,
        cooldown_until date,
        primary key (as_of_date, wallet_address)
    )""",
    """create table if not exists scores.wallet_state_events (
        as_of_date date not null,
        wallet_address varchar not null,
        event varchar not null,
        reason varchar not null,
        event_values varchar not null
    )""",
)



def upgrade() -> None:
    for stmt in STATEMENTS:
        op.execute(stmt)
