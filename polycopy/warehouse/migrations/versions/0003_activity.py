"""Wallet activity (SPLIT, MERGE, REDEEM, CONVERSION, REWARD, MAKER_REBATE, ... and the
wallet's TRADE rows, keyed by their trade key), in daily partitions like the trades.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("activity_key", sa.String(), primary_key=True),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("proxy_wallet", sa.String(), nullable=False),
        sa.Column("condition_id", sa.String()),
        sa.Column("token_id", sa.String()),
        sa.Column("outcome_index", sa.Integer()),
        sa.Column("size", sa.Float(precision=53)),
        sa.Column("usdc_size", sa.Float(precision=53), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("transaction_hash", sa.String(), nullable=False),
        sa.Column("title", sa.String()),
        sa.Column("slug", sa.String()),
        sa.Column("event_slug", sa.String()),
        sa.Column("source_shape", sa.String(), nullable=False),
        sa.Column("side", sa.String()),
        sa.Column("price", sa.Float(precision=53)),
        sa.Column("partition_day", sa.Date(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        schema="raw",
    )
    op.create_index("activity_partition_day_idx", "activity", ["partition_day"], schema="raw")
