"""Appends one request's events to its stream, in order, and makes them durable on ``flush``.

Events are submitted without waiting for their commit, so the request path never waits on the
disk per chunk; ``flush`` is awaited before the end of a response reaches the client.
"""

from __future__ import annotations

import asyncio

from app.ids import uuid7
from domain.events import Event, request_stream
from domain.ports import ANY, EventStore, NewEvent


class RequestRecorder:
    def __init__(self, store: EventStore, request_id: str) -> None:
        self.store = store
        self.request_id = request_id
        self.stream = request_stream(request_id)
        self._pending: list[asyncio.Future[list[int]]] = []
        self.last_position = 0

    async def record(self, *events: Event) -> None:
        """Queue ``events`` (atomically, in order) for the request's stream."""
        batch = [NewEvent.of(event, uuid7()) for event in events]
        self._pending.append(await self.store.submit(self.stream, batch, ANY))

    async def flush(self) -> int:
        """Wait until everything recorded so far is durable; return the last position."""
        if self._pending:
            pending, self._pending = self._pending, []
            results = await asyncio.gather(*pending)
            self.last_position = max([self.last_position, *(max(r) for r in results if r)])
        return self.last_position
