"""At start-up: end every request the log shows as begun but never finished.

A request whose stream has ``request.received`` and no terminal event was cut off by a crash
or a kill; it gets ``request.interrupted``, so every request ends in exactly one terminal event.
This reads the request events of the whole log (fine for now; a read model of open requests
would make it O(open requests)). Run it before serving, in one process only: with several
workers, a second worker starting late would end the first one's live requests.
"""

from __future__ import annotations

from app.ids import uuid7
from domain.events import TERMINAL_REQUEST_TYPES, RequestInterrupted, RequestReceived
from domain.ports import ANY, EventStore, NewEvent

PAGE = 5000
_PREFIX = "request:"


async def unfinished_requests(store: EventStore) -> list[str]:
    """Request ids with ``request.received`` and no terminal event, in log order."""
    open_ids: dict[str, None] = {}
    types = [RequestReceived.TYPE, *sorted(TERMINAL_REQUEST_TYPES)]
    after = 0
    while page := await store.read_all(after, PAGE, types):
        for event in page:
            if not event.stream.startswith(_PREFIX):
                continue
            request_id = event.stream[len(_PREFIX) :]
            if event.type == RequestReceived.TYPE:
                open_ids[request_id] = None
            else:
                open_ids.pop(request_id, None)
        after = page[-1].position
    return list(open_ids)


async def mark_interrupted(store: EventStore) -> list[str]:
    """Append ``request.interrupted`` to every unfinished request; return their ids."""
    ids = await unfinished_requests(store)
    for request_id in ids:
        event = RequestInterrupted(request_id=request_id, reason="unfinished_at_startup")
        await store.append(_PREFIX + request_id, [NewEvent.of(event, uuid7())], ANY)
    return ids
