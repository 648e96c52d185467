"""Requests left without an end by a node that is gone get ``request.interrupted``, once.

Every request's ``request.received`` names the node serving it. A request whose stream has no
terminal event is ended only if its node no longer holds a live lease (``app.services.nodes``),
or if it names no node (logs written before 0.2). The append expects the stream's current
version: when two nodes notice the same dead node, one ends the request and the other's append
is refused, so every request ends in exactly one terminal event. The scan is incremental: each
sweep reads only the request events appended since the previous one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import msgspec

from app.ids import uuid7
from domain.events import TERMINAL_REQUEST_TYPES, RequestInterrupted, RequestReceived
from domain.ports import EventStore, NewEvent, WrongExpectedVersion

log = logging.getLogger(__name__)

PAGE = 5000
_PREFIX = "request:"
_TYPES = [RequestReceived.TYPE, *sorted(TERMINAL_REQUEST_TYPES)]


class _Node(msgspec.Struct):
    node: str = ""


_node_of = msgspec.json.Decoder(_Node).decode


class OpenRequests:
    """Requests begun and not ended, with their node, as of the last ``scan``."""

    def __init__(self) -> None:
        self.after = 0
        self.open: dict[str, str] = {}  # request id -> node id ("" if none was recorded)

    async def scan(self, store: EventStore) -> dict[str, str]:
        while page := await store.read_all(self.after, PAGE, _TYPES):
            for event in page:
                if not event.stream.startswith(_PREFIX):
                    continue
                request_id = event.stream[len(_PREFIX) :]
                if event.type == RequestReceived.TYPE:
                    self.open[request_id] = _node_of(event.data).node
                else:
                    self.open.pop(request_id, None)
            self.after = page[-1].position
        return self.open


async def unfinished_requests(store: EventStore) -> list[str]:
    """Request ids with ``request.received`` and no terminal event, in log order."""
    return list(await OpenRequests().scan(store))


async def _version(store: EventStore, stream: str) -> int:
    version = 0
    while page := await store.read_stream(stream, version, PAGE):
        version = page[-1].version
    return version


async def mark_interrupted(
    store: EventStore,
    live_nodes: set[str] | frozenset[str] = frozenset(),
    reason: str = "unfinished_at_startup",
    requests: OpenRequests | None = None,
) -> list[str]:
    """End every unfinished request whose node is not in ``live_nodes``; return their ids."""
    requests = requests or OpenRequests()
    ended: list[str] = []
    for request_id, node in list((await requests.scan(store)).items()):
        if node and node in live_nodes:
            continue
        stream = _PREFIX + request_id
        event = NewEvent.of(RequestInterrupted(request_id=request_id, reason=reason), uuid7())
        try:
            await store.append(stream, [event], await _version(store, stream))
        except WrongExpectedVersion:
            continue  # it moved: another node ended it, or its node still writes (next sweep)
        requests.open.pop(request_id, None)
        ended.append(request_id)
    return ended


async def sweep(
    store: EventStore,
    live_nodes: Callable[[], Awaitable[set[str]]],
    interval_s: float,
    requests: OpenRequests,
) -> None:
    """Forever, every ``interval_s``: end the requests of nodes whose lease expired.

    ``requests`` carries on from the start-up pass, so each sweep reads only what is new.
    """
    while True:
        await asyncio.sleep(interval_s)
        try:
            ended = await mark_interrupted(
                store, await live_nodes(), "node_lease_expired", requests
            )
            if ended:
                log.info("marked %d unfinished request(s) as request.interrupted", len(ended))
        except Exception as exc:  # the database may be briefly away: the next sweep retries
            log.warning("could not end the requests of gone nodes: %s", exc)
