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
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter, SkipValidation
from litestar.response import Stream

from app.api.auth import READERS
from app.errors import BadRequest
from app.ports.log_export import LogExport
from domain.ports import EventStore, RecordedEvent

HEARTBEAT_S = 15.0
FIRST = asyncio.FIRST_COMPLETED
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


def message(export: LogExport, rec: RecordedEvent) -> bytes:
    """One SSE message; the exported line has no newline, so it fits one ``data:`` field."""
    return b"id: %d\ndata: %s\n\n" % (rec.position, export.line(rec))


async def tail(
    store: EventStore, export: LogExport, after: int, closing: asyncio.Event
) -> AsyncIterator[bytes]:
    """SSE bytes for every event after ``after``, then live ones, with heartbeats when idle.

    Ends when the store closes or ``closing`` is set (the process was asked to stop): the
    client reconnects, elsewhere or later, with ``Last-Event-ID``.
    """
    pages: asyncio.Queue[list[RecordedEvent]] = asyncio.Queue(QUEUED_PAGES)

    async def pump() -> None:
        async for page in store.subscribe(after, PAGE):
            await pages.put(page)

    loop = asyncio.get_running_loop()
    reader = loop.create_task(pump())
    stop = loop.create_task(closing.wait())
    next_page: asyncio.Task[list[RecordedEvent]] | None = None
    try:
        yield b": ledgergate event stream\n\n"  # headers and a first byte out at once
        while not stop.done():
            if next_page is None:
                next_page = loop.create_task(pages.get())
            done, _ = await asyncio.wait({next_page, stop}, timeout=HEARTBEAT_S, return_when=FIRST)
            if next_page in done:
                page, next_page = next_page.result(), None
                yield b"".join(message(export, rec) for rec in page)
            elif not done:
                if reader.done() and pages.empty():  # the store closed
                    return
                yield b": keep-alive\n\n"
    finally:
        tasks = [t for t in (reader, stop, next_page) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@get("/admin/events/stream", guards=READERS)
async def events_stream(
    request: Request[Any, Any, Any],
    store: NamedDependency[SkipValidation[EventStore]],
    export: NamedDependency[SkipValidation[LogExport]],
    closing: NamedDependency[asyncio.Event],
    after: Annotated[int | None, QueryParameter(ge=0, description="start after this")] = None,
) -> Stream:
    start = resume_position(request.headers.get("last-event-id"), after)
    if start is None:
        start = await store.head()
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    body = tail(store, export, start, closing)
    return Stream(body, media_type="text/event-stream", headers=headers)


ROUTES = [events_stream]
