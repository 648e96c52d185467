"""The SQLite event store: the queue and writer task of ``base``, a writer and a reader thread.

Each connection lives on its own single thread (the raw ``sqlite3`` driver, one thread hop per
group commit or per page: aiosqlite would cost a hop per statement). SQLAlchemy and alembic
own the schema (``schema.py``, ``migrations/``); they stay off the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from app.adapters.eventstore.base import QUEUE_BATCHES, Batch, QueuedEventStore
from app.adapters.eventstore.migrate import sqlite_path, upgrade_head
from app.adapters.eventstore.sqlite_reader import SqliteReader, is_migrated
from app.adapters.eventstore.sqlite_writer import SqliteWriter
from domain.ports import RecordedEvent

T = TypeVar("T")

CHECKPOINT_SECONDS = 1.0
"""How often the writer runs an explicit passive WAL checkpoint between commits."""


class SqliteEventStore(QueuedEventStore):
    """``EventStore`` over one SQLite file in WAL mode (``synchronous`` FULL unless NORMAL)."""

    def __init__(self, path: str, synchronous: str, queue_batches: int) -> None:
        super().__init__(queue_batches)
        self.path = path
        self._synchronous = synchronous
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="eventlog-writer")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="eventlog-reader")
        self._writer_side: SqliteWriter | None = None
        self._reader_side: SqliteReader | None = None
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
        store._writer_side = await store._on_writer(lambda: SqliteWriter(store.path, synchronous))
        store._reader_side = await store._on_reader(lambda: SqliteReader(store.path))
        store._start()
        store._checkpoints = asyncio.get_running_loop().create_task(store._checkpoint_loop())
        return store

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._write_thread, fn)

    async def _on_reader(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._read_thread, fn)

    @property
    def _w(self) -> SqliteWriter:
        assert self._writer_side is not None
        return self._writer_side

    @property
    def _r(self) -> SqliteReader:
        assert self._reader_side is not None
        return self._reader_side

    async def _commit(self, group: list[Batch]) -> list[list[int] | BaseException]:
        writer = self._w
        return await self._on_writer(lambda: writer.commit(group))

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
        await self._on_writer(self._w.close)
        await self._on_reader(self._r.close)
        self._write_thread.shutdown()
        self._read_thread.shutdown()

    async def read_all(
        self, after: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        reader = self._r
        return await self._on_reader(lambda: reader.read_all(after, limit, types))

    async def read_hashes(self, after: int = 0, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Positions and hashes only, for the audit tree (no payload, no conversion)."""
        reader = self._r
        return await self._on_reader(lambda: reader.read_hashes(after, limit))

    async def read_stream(
        self, stream: str, after_version: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        reader = self._r
        return await self._on_reader(lambda: reader.read_stream(stream, after_version, limit))

    async def head(self) -> int:
        return await self._on_reader(self._r.head)

    async def chain_head(self) -> tuple[int, bytes] | None:
        """The stored chain head (last position and hash the writer committed), if any."""
        return await self._on_reader(self._r.chain_head)
