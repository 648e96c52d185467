"""Appends one request's events to its stream, in order, and makes them durable on ``flush``.

Events are buffered and handed to the store in batches: when ``BATCH_EVENTS`` are waiting,
``LINGER_SECONDS`` after the first of them (so a long answer reaches the log as it goes), and
always on ``flush``, which is awaited before the end of a response reaches the client. The
request path never waits on the disk per chunk, and a streamed answer costs a few commits
instead of one per chunk. Batches are submitted one at a time, so the log keeps record order.

Only the request's end is conditional: the batch holding its terminal event expects the stream's
version to be what this recorder put there. A node that took this one for dead (it stalled past
its lease) and ended the request as ``request.interrupted`` has moved that version, so this end is
refused (``WrongExpectedVersion``) and the request keeps exactly one terminal event.
"""

from __future__ import annotations

import asyncio
import contextlib

from app.ids import uuid7
from domain.events import TERMINAL_REQUEST_TYPES, Event, request_stream
from domain.ports import ANY, EventStore, NewEvent, new_event

BATCH_EVENTS = 64
"""Events buffered before they are submitted without waiting for the timer."""
LINGER_SECONDS = 0.05
"""How long an event may wait in the buffer before it is submitted."""


class RequestRecorder:
    def __init__(self, store: EventStore, request_id: str) -> None:
        self.store = store
        self.request_id = request_id
        self.stream = request_stream(request_id)
        self.last_position = 0
        self._buffer: list[NewEvent] = []
        self._pending: list[tuple[asyncio.Future[list[int]], int]] = []  # and its event count
        # Events this recorder put in its stream (failed batches taken back out): the stream's
        # version, unless another node wrote to it.
        self._version = 0
        self._timer: asyncio.TimerHandle | None = None
        self._lingering: asyncio.Task[None] | None = None
        self._submitting = asyncio.Lock()

    async def record(self, *events: Event) -> None:
        """Queue ``events`` (atomically, in order) for the request's stream."""
        buffer = self._buffer
        for event in events:
            buffer.append(new_event(event, uuid7()))
        if len(buffer) >= BATCH_EVENTS:
            await self._submit()
        elif self._timer is None and buffer:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(LINGER_SECONDS, self._linger, loop)

    async def flush(self) -> int:
        """Wait until everything recorded so far is durable; return the last position."""
        await self._submit()
        if self._pending:
            pending, self._pending = self._pending, []
            results = await asyncio.gather(*(f for f, _ in pending), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            for (_, count), result in zip(pending, results, strict=True):
                if isinstance(result, BaseException):
                    self._version -= count
            if errors:
                raise errors[0]
            positions = [max(r) for r in results if isinstance(r, list) and r]
            self.last_position = max([self.last_position, *positions])
        return self.last_position

    def _linger(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if not self._buffer:
            return
        if self._lingering is not None and not self._lingering.done():
            self._timer = loop.call_later(LINGER_SECONDS, self._linger, loop)  # store is full
            return
        # Kept referenced until done; ``flush`` waits for it through the lock.
        self._lingering = loop.create_task(self._submit_quietly())

    async def _submit_quietly(self) -> None:
        # A failed batch goes back to the buffer: the next ``flush`` retries and raises it.
        with contextlib.suppress(Exception):
            await self._submit()

    async def _submit(self) -> None:
        """Hand the buffer to the store as one batch, after any batch already on its way."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._submitting:
            if not self._buffer:
                return
            batch, self._buffer = self._buffer, []
            ends = any(e.type in TERMINAL_REQUEST_TYPES for e in batch)
            try:
                future = await self.store.submit(self.stream, batch, self._version if ends else ANY)
            except BaseException:
                # Not queued (refused, or cancelled while the store was full): keep the events,
                # in front of any recorded meanwhile, for the next ``flush``.
                self._buffer[:0] = batch
                raise
            self._pending.append((future, len(batch)))
            self._version += len(batch)
