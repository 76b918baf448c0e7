"""Alembic environment of the ledger: runs on the connection the caller hands over
(``config.attributes["connection"]``), SQLite or PostgreSQL alike."""

from alembic import context

attrs = context.config.attributes
context.configure(connection=attrs["connection"], version_table=attrs["version_table"],
                  version_table_schema=attrs["version_table_schema"], transactional_ddl=True,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
