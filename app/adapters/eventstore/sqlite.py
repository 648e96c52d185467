"""The SQLite event store: ``threaded``'s writer and reader over one file, and its checkpoints.

The raw ``sqlite3`` driver on each side's thread (aiosqlite would cost a hop per statement).
SQLAlchemy and alembic own the schema (``schema.py``, ``migrations/``); they stay off the hot
path.
"""

from __future__ import annotations

import asyncio
import contextlib

from app.adapters.eventstore.base import QUEUE_BATCHES
from app.adapters.eventstore.migrate import sqlite_path, upgrade_head
from app.adapters.eventstore.sqlite_reader import SqliteReader, is_migrated
from app.adapters.eventstore.sqlite_writer import SqliteWriter
from app.adapters.eventstore.threaded import ThreadedEventStore

CHECKPOINT_SECONDS = 1.0
"""How often the writer runs an explicit passive WAL checkpoint between commits."""


class SqliteEventStore(ThreadedEventStore[SqliteWriter, SqliteReader]):
    """``EventStore`` over one SQLite file in WAL mode (``synchronous`` FULL unless NORMAL)."""

    def __init__(self, path: str, synchronous: str, queue_batches: int) -> None:
        super().__init__(queue_batches)
        self.path = path
        self._synchronous = synchronous
        self._checkpoints: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, database_url: str, synchronous: str = "FULL", queue_batches: int = QUEUE_BATCHES
    ) -> SqliteEventStore:
        """Open (migrating first if the log's tables are missing) and start the writer."""
        path = sqlite_path(database_url)
        if path is None:
            raise ValueError(f"not a SQLite file URL: {database_url}")
        if not await asyncio.to_thread(is_migrated, str(path)):
            await asyncio.to_thread(upgrade_head, database_url)
        store = cls(str(path), synchronous, queue_batches)
        await store._open_sides(
            lambda: SqliteWriter(store.path, synchronous), lambda: SqliteReader(store.path)
        )
        store._checkpoints = asyncio.get_running_loop().create_task(store._checkpoint_loop())
        return store

    async def _checkpoint_loop(self) -> None:
        # Runs on the writer thread, so it queues between commits and never overlaps one.
        while not self._closed:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            if self.unavailable is not None:  # after a storage fault: ready again once writable
                with contextlib.suppress(Exception):
                    await self._on_writer(self._w.probe)
                    self.unavailable = None
            with contextlib.suppress(Exception):
                await self._on_writer(self._w.checkpoint)

    async def _close_resources(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
        await self._close_sides()

    async def read_hashes(self, after: int = 0, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Positions and hashes only, for the audit tree (no payload, no conversion)."""
        reader = self._r
        return await self._on_reader(lambda: reader.read_hashes(after, limit))
