"""Market categories from tags: Gamma's own category field kept apart, the tag that
decided the category, the tags as served, and one row per market tag.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("markets", sa.Column("gamma_category", sa.String()), schema="raw")
    op.add_column("markets", sa.Column("category_tag", sa.String()), schema="raw")
    # Markets ingested before tags were read have none on record: an empty list, not a guess.
    op.add_column("markets", sa.Column("tags", sa.String(), nullable=False, server_default="[]"), schema="raw")
    # Until now `category` held Gamma's field as served; keep that reading as gamma_category.
    op.execute("update raw.markets set gamma_category = category")
    op.create_table(
        "market_tags",
        sa.Column("condition_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.String()),
        sa.Column("tag_slug", sa.String(), nullable=False),
        sa.Column("tag_label", sa.String()),
        sa.Column("tag_source", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("condition_id", "tag_slug"),
        schema="raw",
    )
