"""Event store adapters: SQLite, PostgreSQL and an in-memory fake, chosen by database URL."""

from __future__ import annotations

from app.adapters.eventstore.memory import InMemoryEventStore
from app.settings import Settings
from domain.ports import EventStore

__all__ = ("InMemoryEventStore", "open_event_store")


async def open_event_store(settings: Settings) -> EventStore:
    """Open the store for ``settings.database_url``: ``memory://``, SQLite or PostgreSQL.

    A database without the log's tables is migrated first (alembic ``upgrade head``).
    """
    url = settings.database_url
    if url.startswith("memory:"):
        return await InMemoryEventStore.open()
    from app.adapters.eventstore.migrate import is_postgres

    if is_postgres(url):
        from app.adapters.eventstore.postgres import PostgresEventStore

        return await PostgresEventStore.open(url)
    from app.adapters.eventstore.sqlite import SqliteEventStore

    return await SqliteEventStore.open(url, synchronous=settings.sqlite_synchronous)
