"""Versioned schema migrations (Alembic on SQLAlchemy Core), shared by the warehouse and
the ledger: each keeps its revisions in its own ``migrations/versions`` folder and its own
version table, and upgrades in place with the data already there kept.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

_done: set[str] = set()
_lock = threading.Lock()


def alembic_config(script_location: Path, version_table: str, version_table_schema: str | None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["version_table"] = version_table
    cfg.attributes["version_table_schema"] = version_table_schema
    return cfg


def head_revision(script_location: Path) -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(engine: sa.Engine, version_table: str, version_table_schema: str | None) -> str | None:
    with engine.connect() as con:
        return MigrationContext.configure(con, opts={"version_table": version_table,
                                                     "version_table_schema": version_table_schema}
                                          ).get_current_revision()


def upgrade_database(engine_factory: Callable[[], sa.Engine], script_location: Path, *, key: str,
                     version_table: str, version_table_schema: str | None = None,
                     prepare: Callable[[sa.Connection], None] | None = None, revision: str = "head") -> None:
    """Apply every migration the database lacks, in one transaction; once per process and
    ``key`` (the database's address) when upgrading to head. ``prepare`` runs first in its
    own transaction (e.g. creating the schema the version table lives in)."""
    with _lock:
        if revision == "head" and key in _done:
            return
        engine = engine_factory()
        try:
            if prepare is not None:
                with engine.begin() as con:
                    prepare(con)
            with engine.begin() as con:
                cfg = alembic_config(script_location, version_table, version_table_schema)
                cfg.attributes["connection"] = con
                command.upgrade(cfg, revision)
        finally:
            engine.dispose()
        if revision == "head":
            _done.add(key)
