"""What the SQL stores share: a writer and a reader, each on a connection and a thread of its own.

Each side runs on one thread with the raw driver (one thread hop per group commit or per page;
an async driver would cost a hop per statement). The backend builds its writer and its reader;
reads are the reader's methods, run on the reader's thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, Protocol, TypeVar

from app.adapters.eventstore.base import Batch, QueuedEventStore
from app.adapters.eventstore.reader import LogReader
from domain.ports import RecordedEvent

T = TypeVar("T")


class Writer(Protocol):
    def commit(self, group: Sequence[Batch]) -> list[list[int] | BaseException]: ...

    def close(self) -> None: ...


W = TypeVar("W", bound=Writer)
R = TypeVar("R", bound=LogReader)


class ThreadedEventStore(QueuedEventStore, Generic[W, R]):
    """The queue and writer task of ``base`` over a writer ``W`` and a reader ``R``."""

    def __init__(self, queue_batches: int) -> None:
        super().__init__(queue_batches)
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="eventlog-writer")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="eventlog-reader")
        self._writer_side: W | None = None
        self._reader_side: R | None = None

    async def _open_sides(self, writer: Callable[[], W], reader: Callable[[], R]) -> None:
        """Connect each side on its own thread, then start taking appends."""
        self._writer_side = await self._on_writer(writer)
        self._reader_side = await self._on_reader(reader)
        self._start()

    async def _close_sides(self) -> None:
        if self._writer_side is not None:
            await self._on_writer(self._writer_side.close)
        if self._reader_side is not None:
            await self._on_reader(self._reader_side.close)
        self._write_thread.shutdown()
        self._read_thread.shutdown()

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._write_thread, fn)

    async def _on_reader(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._read_thread, fn)

    @property
    def _w(self) -> W:
        assert self._writer_side is not None
        return self._writer_side

    @property
    def _r(self) -> R:
        assert self._reader_side is not None
        return self._reader_side

    async def _commit(self, group: list[Batch]) -> list[list[int] | BaseException]:
        writer = self._w
        return await self._on_writer(lambda: writer.commit(group))

    async def read_all(
        self, after: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        reader = self._r
        return await self._on_reader(lambda: reader.read_all(after, limit, types))

    async def read_stream(
        self, stream: str, after_version: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        reader = self._r
        return await self._on_reader(lambda: reader.read_stream(stream, after_version, limit))

    async def head(self) -> int:
        return await self._on_reader(self._r.head)

    async def chain_head(self) -> tuple[int, bytes] | None:
        """The stored chain head (last position and hash committed), if any."""
        return await self._on_reader(self._r.chain_head)
