"""``GET /admin/events/stream``: a live tail of the log as Server-Sent Events (admin or auditor).

Each event is one SSE message, ``id: <position>`` and ``data: <the exported event>``, the same
JSON object a line as ``ledgergate events export``. A client that reconnects with
``Last-Event-ID`` resumes right after that position (EventSource does this by itself; so does
the console's fetch reader). Without ``after`` or ``Last-Event-ID`` the tail starts at the head:
only events appended from now on. A comment line every ``HEARTBEAT_S`` keeps idle connections
(and the proxies between) open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter
from litestar.response import Stream

from app.adapters.eventstore.export import export_line
from app.api.auth import READERS
from app.errors import BadRequest
from app.services.container import services_of
from domain.ports import EventStore, RecordedEvent

HEARTBEAT_S = 15.0
PAGE = 500
QUEUED_PAGES = 4  # a slow reader slows its own catch-up, never the log


def resume_position(last_event_id: str | None, after: int | None) -> int | None:
    """Where to start: ``Last-Event-ID`` wins over ``after`` (it is the client's own progress)."""
    if last_event_id is not None and last_event_id.strip():
        try:
            position = int(last_event_id.strip())
        except ValueError:
            raise BadRequest(
                "Last-Event-ID must be a log position (a whole number).", param="Last-Event-ID"
            ) from None
        if position < 0:
            raise BadRequest("Last-Event-ID must not be negative.", param="Last-Event-ID")
        return position
    return after


def message(rec: RecordedEvent) -> bytes:
    """One SSE message; the exported line has no newline, so it fits one ``data:`` field."""
    return b"id: %d\ndata: %s\n\n" % (rec.position, export_line(rec))


async def tail(store: EventStore, after: int) -> AsyncIterator[bytes]:
    """SSE bytes for every event after ``after``, then live ones, with heartbeats when idle."""
    pages: asyncio.Queue[list[RecordedEvent]] = asyncio.Queue(QUEUED_PAGES)

    async def pump() -> None:
        async for page in store.subscribe(after, PAGE):
            await pages.put(page)

    reader = asyncio.get_running_loop().create_task(pump())
    try:
        yield b": ledgergate event stream\n\n"  # headers and a first byte out at once
        while True:
            try:
                page = await asyncio.wait_for(pages.get(), HEARTBEAT_S)
            except TimeoutError:
                if reader.done():  # the store closed: end the stream, the client reconnects
                    return
                yield b": keep-alive\n\n"
                continue
            yield b"".join(message(rec) for rec in page)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


@get("/admin/events/stream", guards=READERS)
async def events_stream(
    request: Request[Any, Any, Any],
    after: Annotated[int | None, QueryParameter(ge=0, description="start after this")] = None,
) -> Stream:
    store = services_of(request).store
    start = resume_position(request.headers.get("last-event-id"), after)
    if start is None:
        start = await store.head()
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return Stream(tail(store, start), media_type="text/event-stream", headers=headers)


ROUTES = [events_stream]
