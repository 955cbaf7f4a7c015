"""Alembic environment: runs on the connection lanfax hands over (no ini file, no URL here).

:func:`lanfax.store.sql_engine.migrate` puts an open connection in ``config.attributes``; offline
(SQL script) mode is not supported because the store always migrates a live database.
"""

from __future__ import annotations

from alembic import context

from lanfax.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("lanfax migrations run only through lanfax.store (no connection given)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
