"""Versioned schema migrations of the warehouse (Alembic on SQLAlchemy Core).

The revisions live in ``polycopy/warehouse/migrations/versions``; each states what it
changes and keeps the data already there. :func:`upgrade` brings a DuckDB file or a
PostgreSQL database to the newest revision; a warehouse created before migrations
existed is adopted by the idempotent baseline. Run once per process and database.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_done: set[str] = set()
_lock = threading.Lock()


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def engine_for(warehouse) -> sa.Engine:
    """A SQLAlchemy engine on the warehouse's database (DuckDB file or PostgreSQL DSN)."""
    if warehouse.backend == "duckdb":
        return sa.create_engine(f"duckdb:///{warehouse.path}", poolclass=sa.pool.NullPool)
    import psycopg2

    return sa.create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(warehouse.dsn),
                            poolclass=sa.pool.NullPool)


def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(warehouse) -> str | None:
    engine = engine_for(warehouse)
    try:
        with engine.connect() as con:
            return MigrationContext.configure(con, opts={"version_table_schema": "raw"}).get_current_revision()
    finally:
        engine.dispose()


def upgrade(warehouse, revision: str = "head") -> None:
    """Apply every migration the warehouse lacks, in one transaction per run."""
    key = f"{warehouse.backend}:{getattr(warehouse, 'path', None) or getattr(warehouse, 'dsn', '')}"
    with _lock:
        if revision == "head" and key in _done:
            return
        engine = engine_for(warehouse)
        try:
            with engine.begin() as con:
                # The version table lives in the raw schema, which must exist first.
                con.exec_driver_sql("create schema if not exists raw")
            with engine.begin() as con:
                cfg = _config()
                cfg.attributes["connection"] = con
                command.upgrade(cfg, revision)
        finally:
            engine.dispose()
        if revision == "head":
            _done.add(key)
