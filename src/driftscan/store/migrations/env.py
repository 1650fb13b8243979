"""Alembic environment: runs on the connection driftscan hands over (or a URL for the CLI)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from driftscan.store.tables import Base

config = context.config


def _run(connection: Connection) -> None:
    # Batch mode lets later migrations alter tables on SQLite, which lacks ALTER COLUMN.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url") or "").connect() as conn:
        _run(conn)
