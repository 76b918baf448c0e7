"""Versioned schema migrations of the warehouse (Alembic on SQLAlchemy Core).

The revisions live in ``polycopy/warehouse/migrations/versions``; each states what it
changes and keeps the data already there. :func:`upgrade` brings a DuckDB file or a
PostgreSQL database to the newest revision; a warehouse created before migrations
existed is adopted by the idempotent baseline. Run once per process and database.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.ddl.impl import DefaultImpl

from polycopy import migrations
from polycopy.db import pg_connect


class DuckDBImpl(DefaultImpl):
    """Alembic has no built-in DuckDB dialect; DuckDB takes the default DDL. Defined on
    import, so that reading a warehouse's revision needs no migration run first."""

    __dialect__ = "duckdb"
    transactional_ddl = True


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE, VERSION_SCHEMA = "alembic_version", "raw"


def engine_for(warehouse) -> sa.Engine:
    """A SQLAlchemy engine on the warehouse's database (DuckDB file or PostgreSQL DSN)."""
    if warehouse.backend == "duckdb":
        return sa.create_engine(f"duckdb:///{warehouse.path}", poolclass=sa.pool.NullPool,
                                connect_args={"config": warehouse.limits.connect_config()})
    return sa.create_engine("postgresql+psycopg2://", creator=lambda: pg_connect(warehouse.dsn),
                            poolclass=sa.pool.NullPool)


def head_revision() -> str:
    return migrations.head_revision(MIGRATIONS_DIR)


def current_revision(warehouse) -> str | None:
    engine = engine_for(warehouse)
    try:
        return migrations.current_revision(engine, VERSION_TABLE, VERSION_SCHEMA)
    finally:
        engine.dispose()


def upgrade(warehouse, revision: str = "head") -> None:
    """Apply every migration the warehouse lacks, in one transaction per run."""
    key = f"{warehouse.backend}:{getattr(warehouse, 'path', None) or getattr(warehouse, 'dsn', '')}"
    migrations.upgrade_database(
        lambda: engine_for(warehouse), MIGRATIONS_DIR, key=key, version_table=VERSION_TABLE,
        version_table_schema=VERSION_SCHEMA, revision=revision,
        # The version table lives in the raw schema, which must exist first.
        prepare=lambda con: con.exec_driver_sql("create schema if not exists raw"))
