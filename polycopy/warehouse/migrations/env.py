"""Alembic environment of the warehouse: runs on the connection the caller hands over
(``config.attributes["connection"]``), DuckDB or PostgreSQL alike."""

from alembic import context

import polycopy.warehouse.migrate  # noqa: F401  (registers Alembic's DuckDB implementation)

attrs = context.config.attributes
context.configure(connection=attrs["connection"], version_table=attrs["version_table"],
                  version_table_schema=attrs["version_table_schema"], transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
