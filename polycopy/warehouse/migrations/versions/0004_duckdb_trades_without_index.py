"""DuckDB: raw.trades without its primary-key and partition_day indexes, rows clustered by day.

DuckDB keeps every ART index whole in memory and updates it on each insert: on tens of
millions of fills the trade-key index alone takes gigabytes and makes loading slower
with every row already loaded. The raw table is written only by partition replaces
(delete the days, insert them again), which need no index: rows kept in day order let
DuckDB's per-block min/max skip every other day. Trade keys stay unique through the
ingestion (duplicates collapse before a write) and the blocking asset check
``raw_trades_unique_keys`` over the partitions written. PostgreSQL keeps its B-tree
primary key, which lives on disk.

Every row is copied into the new table; nothing is dropped.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = """
    trade_key varchar not null,
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
"""


def upgrade() -> None:
    if op.get_context().dialect.name != "duckdb":
        return
    op.execute(f"create table raw.trades_unindexed ({COLUMNS})")
    names = ", ".join(line.split()[0] for line in COLUMNS.strip().splitlines())
    op.execute(f"insert into raw.trades_unindexed ({names}) select {names} from raw.trades "
               "order by partition_day, timestamp")
    op.execute("drop index if exists raw.trades_partition_day_idx")
    op.execute("drop table raw.trades")
    op.execute("alter table raw.trades_unindexed rename to trades")
