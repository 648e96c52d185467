"""Alembic environment: one database URL, the event log's and the read models' metadata.

The URL, first match wins: ``config.attributes["database_url"]`` (set by
``app.adapters.eventstore.migrate``), ``-x url=...``, ``$LEDGERGATE_DATABASE_URL``, the default
in ``app.settings``. Async drivers are swapped for their sync twins: migrations are a cold path.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL, Connection, make_url

from app.adapters.eventstore.schema import metadata as event_log_metadata
from app.settings import Settings
from projections.schema import metadata as read_model_metadata

target_metadata = [event_log_metadata, read_model_metadata]

_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
}


def database_url() -> URL:
    config = context.config
    raw = (
        config.attributes.get("database_url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("LEDGERGATE_DATABASE_URL")
        or Settings().database_url
    )
    url = make_url(raw)
    sync = _SYNC_DRIVERS.get(url.drivername)
    return url.set(drivername=sync) if sync else url


def run_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Nodes starting together: one migrates, the others wait and then find it done.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('ledgergate:migrate'))"))
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
