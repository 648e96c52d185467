"""What every event store adapter shares: batch checks, the bounded queue, the writer task, wakeups.

An adapter supplies ``_commit(group)``, which commits a group of batches in one transaction and
returns, per batch, its positions or the error to raise to that batch's appender; and the reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.adapters.eventstore.canonical import canonical_object
from domain.ports import (
    ANY,
    NO_STREAM,
    CanonicalEvent,
    IdempotencyConflict,
    LogUnavailable,
    NewEvent,
    RecordedEvent,
    StoreClosed,
    WrongExpectedVersion,
)

K = TypeVar("K")

CACHED_STREAMS = 4096
"""Stream name → id (and version) entries a writer keeps; older ones are looked up again."""
QUEUE_BATCHES = 10_000
"""Batches that may wait for the writer before ``submit`` blocks (backpressure, never drops)."""
GROUP_EVENTS = 5_000
"""Events per write transaction at most, so one commit never holds the lock for long."""
POLL_SECONDS = 0.2
"""How often waiters look for commits made by other processes."""


@dataclass(slots=True)
class Batch:
    """One append waiting for the writer: payloads already canonical, ids checked."""

    stream: str
    events: list[NewEvent]
    expected_version: int
    future: asyncio.Future[list[int]] = field(repr=False)


def prepare(stream: str, events: Sequence[NewEvent], expected_version: int) -> list[NewEvent]:
    """Validate a batch and canonicalise its payloads (on the caller's task, not the writer's)."""
    if not isinstance(stream, str) or not stream:
        raise ValueError("stream must be a non-empty string")
    if expected_version < ANY:
        raise ValueError(f"expected_version must be ANY, NO_STREAM or >= 1: {expected_version}")
    out: list[NewEvent] = []
    seen: set[str] = set()
    for e in events:
        if not e.event_id or not e.type or e.schema_version < 1:
            raise ValueError(f"event needs an id, a type and schema_version >= 1: {e!r}")
        if e.event_id in seen:
            raise ValueError(f"event id twice in one batch: {e.event_id}")
        seen.add(e.event_id)
        if type(e) is CanonicalEvent:
            out.append(e)  # proven canonical by its producer: no parse, no copy
            continue
        data, meta = canonical_object(e.data), canonical_object(e.meta)
        out.append(NewEvent(e.event_id, e.type, e.schema_version, data, meta))
    return out


def check_expected(stream: str, current: int, expected: int) -> None:
    """Raise ``WrongExpectedVersion`` unless ``current`` satisfies ``expected``."""
    if expected in (ANY, current):
        return
    want = "no stream" if expected == NO_STREAM else f"version {expected}"
    raise WrongExpectedVersion(f"stream {stream!r}: expected {want}, found version {current}")


def check_retry(batch: Batch, found: Sequence[RecordedEvent | None]) -> list[int]:
    """Positions of an identical earlier append, or ``IdempotencyConflict``.

    ``found[i]`` is the stored event with ``batch.events[i].event_id``, if any.
    """
    if any(f is None for f in found):
        raise IdempotencyConflict(f"stream {batch.stream!r}: some event ids of the batch exist")
    positions: list[int] = []
    for new, old in zip(batch.events, found, strict=True):
        assert old is not None
        same = (
            old.stream == batch.stream
            and old.type == new.type
            and old.schema_version == new.schema_version
            and old.data == new.data
            and old.meta == new.meta
        )
        if not same or (positions and old.position <= positions[-1]):
            raise IdempotencyConflict(
                f"event {new.event_id} was appended before with other content or order"
            )
        positions.append(old.position)
    return positions


def stored_event(event_id: str, row: Sequence[Any]) -> RecordedEvent:
    """A stored event as ``check_retry`` compares it, from ``row``: position, stream, type,
    schema version, data and meta (None: stored as NULL, for ``{}``); the rest is left empty."""
    position, stream, type_, schema_version, data, meta = row
    meta = meta if meta is not None else b"{}"
    return RecordedEvent(
        position, event_id, stream, 0, type_, schema_version, "", data, meta, "", ""
    )


def trimmed(cache: dict[K, int]) -> dict[K, int]:
    """``cache``, or once it holds over twice ``CACHED_STREAMS`` entries, its ``CACHED_STREAMS``
    most recently added ones (dicts keep insertion order)."""
    if len(cache) > 2 * CACHED_STREAMS:
        return dict(list(cache.items())[-CACHED_STREAMS:])
    return cache


class QueuedEventStore:
    """The queue/writer/wakeup half of an ``EventStore``; subclasses commit and read."""

    def __init__(self, queue_batches: int = QUEUE_BATCHES, poll_seconds: float = POLL_SECONDS):
        # A deque and two kinds of waiter instead of asyncio.Queue: a third of the per-append cost.
        self._pending: deque[Batch] = deque()
        self._max_pending = queue_batches
        self._writer_waiting: asyncio.Future[None] | None = None
        self._room_waiters: deque[asyncio.Future[None]] = deque()
        self._stopping = False
        self._poll = poll_seconds
        self._closed = False
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.unavailable: str | None = None
        """Why the last write failed on a storage fault (disk full, read-only…); None when fine."""

    # --- to implement -------------------------------------------------------------------------

    async def _commit(self, group: list[Batch]) -> list[list[int] | BaseException]:
        raise NotImplementedError

    async def _close_resources(self) -> None:
        return None

    async def read_all(
        self, after: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        raise NotImplementedError

    async def head(self) -> int:
        raise NotImplementedError

    # --- appends ------------------------------------------------------------------------------

    def _start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="eventlog")

    async def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int = ANY
    ) -> list[int]:
        return await (await self.submit(stream, events, expected_version))

    async def submit(
        self, stream: str, events: Sequence[NewEvent], expected_version: int = ANY
    ) -> asyncio.Future[list[int]]:
        if self._closed:
            raise StoreClosed("the event store is closed")
        prepared = prepare(stream, events, expected_version)
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        if not prepared:
            future.set_result([])
            return future
        while len(self._pending) >= self._max_pending:  # backpressure: wait, never drop
            room = future.get_loop().create_future()
            self._room_waiters.append(room)
            await room
            if self._closed:
                raise StoreClosed("the event store is closed")
        self._pending.append(Batch(stream, prepared, expected_version, future))
        waiting = self._writer_waiting
        if waiting is not None and not waiting.done():
            waiting.set_result(None)
        return future

    async def _write_loop(self) -> None:
        pending = self._pending
        while True:
            if not pending:
                if self._stopping:
                    return
                self._writer_waiting = asyncio.get_running_loop().create_future()
                await self._writer_waiting
                continue
            # Take whatever is queued, no artificial delay: group commit.
            group: list[Batch] = []
            count = 0
            while pending and count < GROUP_EVENTS:
                batch = pending.popleft()
                group.append(batch)
                count += len(batch.events)
            while self._room_waiters and len(pending) < self._max_pending:
                room = self._room_waiters.popleft()
                if not room.done():
                    room.set_result(None)
            try:
                results = await self._commit(group)
                self.unavailable = None
            except LogUnavailable as e:  # the disk, not the batches: readiness reports it
                self.unavailable = e.reason
                results = [e] * len(group)
            except Exception as e:  # a failed transaction fails its group, not the store
                results = [e] * len(group)
            for batch, result in zip(group, results, strict=True):
                if batch.future.done():
                    continue
                if isinstance(result, BaseException):
                    batch.future.set_exception(result)
                else:
                    batch.future.set_result(result)
            self._notify()

    def _notify(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def _wait_wake(self, wake: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        if self._writer is not None:
            if self._writer_waiting is not None and not self._writer_waiting.done():
                self._writer_waiting.set_result(None)
            await self._writer
        while self._room_waiters:  # submits still waiting for room: they raise StoreClosed
            room = self._room_waiters.popleft()
            if not room.done():
                room.set_result(None)
        self._notify()
        await self._close_resources()

    # --- waiting and subscriptions ------------------------------------------------------------

    async def wait_for(self, position: int, timeout: float | None = None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            wake = self._wake
            if await self.head() >= position:
                return True
            left = self._poll if deadline is None else min(self._poll, deadline - loop.time())
            if left <= 0:
                return False
            await self._wait_wake(wake, left)

    async def subscribe(
        self, after: int = 0, batch: int = 1000
    ) -> AsyncIterator[list[RecordedEvent]]:
        """History after ``after`` in pages, then live pages; ends when the store closes."""
        while not self._closed:
            wake = self._wake
            page = await self.read_all(after, batch)
            if page:
                yield page
                after = page[-1].position
                continue
            await self._wait_wake(wake, self._poll)
