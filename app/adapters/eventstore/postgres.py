"""The PostgreSQL event store: ``threaded``'s writer and reader over psycopg 3, and a listener.

As with SQLite, the hot path runs on the raw driver, one thread per connection (a writer and a
reader; one hop per group commit or per page), and SQLAlchemy and alembic own the schema. A
third, asynchronous connection LISTENs on ``ledgergate_events``: every node's commits wake this
node's waiters and catch-up subscriptions at once (the 0.2 s poll of ``base`` is the fallback if
the listener's connection drops). psycopg rather than asyncpg: as fast for what we do (a binary
``COPY`` per group, measured in docs/performance.md), and it has the synchronous connection the
threads need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import psycopg

from app.adapters.eventstore.base import QUEUE_BATCHES, Batch
from app.adapters.eventstore.migrate import conninfo, upgrade_head
from app.adapters.eventstore.pg_reader import PostgresReader
from app.adapters.eventstore.pg_writer import CHANNEL, PostgresWriter
from app.adapters.eventstore.threaded import ThreadedEventStore
from domain.ports import RecordedEvent

log = logging.getLogger(__name__)


def is_migrated(info: str) -> bool:
    with psycopg.connect(info, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('event_log_head') IS NOT NULL").fetchone()
        return bool(row and row[0])


class PostgresEventStore(ThreadedEventStore[PostgresWriter, PostgresReader]):
    """``EventStore`` over a PostgreSQL database shared by any number of processes and hosts."""

    def __init__(self, info: str, queue_batches: int) -> None:
        super().__init__(queue_batches)
        self._info = info
        self._listener: asyncio.Task[None] | None = None
        # The highest committed position this node knows of, from its own commits and every
        # node's NOTIFY: while the listener is connected, ``head()`` needs no round trip.
        self._known_head = 0
        self._listening = False

    @classmethod
    async def open(
        cls, database_url: str, queue_batches: int = QUEUE_BATCHES
    ) -> PostgresEventStore:
        """Open (migrating first if the log's tables are missing) and start the writer."""
        info = conninfo(database_url)
        if not await asyncio.to_thread(is_migrated, info):
            await asyncio.to_thread(upgrade_head, database_url)
        store = cls(info, queue_batches)
        await store._open_sides(lambda: PostgresWriter(info), lambda: PostgresReader(info))
        store._listener = asyncio.get_running_loop().create_task(store._listen())
        return store

    async def _listen(self) -> None:
        """Wake local waiters on every commit of any node; reconnect after a failure."""
        while not self._closed:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._info, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    # Commits made while we were not listening: read the head once.
                    self._known_head = max(self._known_head, await self._on_reader(self._r.head))
                    self._listening = True
                    self._notify()
                    async for note in conn.notifies():
                        position = int(note.payload)
                        if position > self._known_head:  # not our own commit, already known
                            self._known_head = position
                            self._notify()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the poll covers the gap; try again shortly
                self._listening = False
                log.warning("event log listener: %s; reconnecting", exc)
                await asyncio.sleep(1.0)
            self._listening = False

    async def _commit(self, group: list[Batch]) -> list[list[int] | BaseException]:
        results = await super()._commit(group)
        self._known_head = max(self._known_head, self._w.head)
        return results

    async def _close_resources(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._close_sides()

    async def read_all(
        self, after: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        events = await super().read_all(after, limit, types)
        if events:  # read rows are committed: head() never lags what this node has seen
            self._known_head = max(self._known_head, events[-1].position)
        return events

    async def head(self) -> int:
        if self._listening:
            return self._known_head
        return await super().head()
