"""Ports: what the domain and the projections need from the outside world, as Protocols.

The event store is the one every other part depends on. Its adapters live in
``app.adapters.eventstore`` (SQLite, and an in-memory fake that passes the same contract suite).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from typing import Final, Protocol

import msgspec

from domain.events import Event
from domain.upcasting import encode

ANY: Final = -1
"""Expected version: append whatever the stream's current version is."""
NO_STREAM: Final = 0
"""Expected version: the stream must not exist yet (its current version is 0)."""


class NewEvent(msgspec.Struct, frozen=True):
    """To append: ``data``/``meta`` are JSON bytes; ``event_id`` makes retries idempotent."""

    event_id: str
    type: str
    schema_version: int
    data: bytes
    meta: bytes = b"{}"

    @classmethod
    def of(cls, event: Event, event_id: str, meta: bytes = b"{}") -> NewEvent:
        return cls(event_id, event.TYPE, event.SCHEMA_VERSION, encode(event), meta)


class CanonicalEvent(NewEvent, frozen=True):
    """A ``NewEvent`` whose ``data`` and ``meta`` are proven RFC 8785 (JCS) bytes.

    Made by ``new_event`` on the producer's side, so the store's writer takes the bytes as
    they are instead of canonicalising them again.
    """


_sorted_encode = msgspec.json.Encoder(order="sorted").encode
# What makes msgspec's sorted output differ from JCS: a float (always a digit then "." or an
# exponent), an integer that may exceed 2**53 (16+ digits), an astral character (UTF-16 key
# order). Searched over the whole output, strings included: a false alarm only costs a re-parse.
# One leading character class lets the regex engine skip ahead fast (3x the plain alternation).
_UNPROVEN = re.compile(rb"[0-9\xf0-\xf4](?:(?<=[\xf0-\xf4])|[.eE]|[0-9]{15})")


def canonical_payload(value: object) -> bytes | None:
    """The JCS bytes of ``value`` (a dict or Struct) if msgspec's sorted output provably is so."""
    try:
        out = _sorted_encode(value)
    except TypeError:  # a dict with non-str keys, which sorted order refuses
        return None
    if out[:1] != b"{" or _UNPROVEN.search(out):
        return None
    return out


def new_event(event: Event, event_id: str) -> NewEvent:
    """``NewEvent.of(event, event_id)``, as a ``CanonicalEvent`` when that can be proven."""
    data = canonical_payload(event)
    if data is None:
        return NewEvent.of(event, event_id)  # the store canonicalises it
    return CanonicalEvent(event_id, event.TYPE, event.SCHEMA_VERSION, data)


class RecordedEvent(msgspec.Struct, frozen=True):
    """An event as stored: envelope, payload bytes and its link in the hash chain."""

    position: int
    event_id: str
    stream: str
    version: int
    type: str
    schema_version: int
    recorded_at: str  # RFC 3339, UTC, microseconds, "Z"
    data: bytes
    meta: bytes
    prev_hash: str
    hash: str


class EventStoreError(Exception):
    """Base of the store's errors."""


class WrongExpectedVersion(EventStoreError):
    """The stream's version is not what the appender expected (or a (stream, version) clash)."""


class IdempotencyConflict(EventStoreError):
    """A retry whose event ids overlap an earlier append only in part, or carry other content."""


class StoreClosed(EventStoreError):
    """The store no longer accepts appends."""


class LogUnavailable(EventStoreError):
    """The log cannot be written for now (disk full, read-only, I/O error); nothing was written.

    ``reason`` says why in a few words; appends succeed again once the cause is gone.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"the event log cannot be written: {reason}")
        self.reason = reason


class EventStore(Protocol):
    """An append-only, hash-chained log with global positions and per-stream versions."""

    async def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int = ANY
    ) -> list[int]:
        """Append atomically; return the positions once durable.

        An identical retry (same event ids, same content, same stream) returns the original
        positions and writes nothing.
        """
        ...

    async def submit(
        self, stream: str, events: Sequence[NewEvent], expected_version: int = ANY
    ) -> asyncio.Future[list[int]]:
        """Queue an append and return at once (waiting only while the queue is full).

        Appends submitted from one task are committed in submission order. Await the returned
        future for durability; it raises what ``append`` would raise.
        """
        ...

    async def read_all(
        self, after: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        """Events with ``position > after`` in position order, at most ``limit``."""
        ...

    async def read_stream(
        self, stream: str, after_version: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        """One stream's events with ``version > after_version`` in version order."""
        ...

    async def head(self) -> int:
        """The last committed position (0 for an empty log)."""
        ...

    async def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Wait until ``head() >= position``; False on timeout."""
        ...

    def subscribe(self, after: int = 0, batch: int = 1000) -> AsyncIterator[list[RecordedEvent]]:
        """Catch-up: history after ``after``, then live pages as commits land."""
        ...

    async def close(self) -> None: ...
