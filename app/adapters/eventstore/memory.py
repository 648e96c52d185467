"""In-memory event store: the fake with the SQLite store's full semantics, hash chain included."""

from __future__ import annotations

from collections.abc import Sequence

from app.adapters.eventstore.base import Batch, QueuedEventStore, check_expected, check_retry
from app.adapters.eventstore.canonical import (
    ZERO_HEX,
    canonical_string,
    chain_hash,
    envelope_bytes,
    format_recorded_at,
    now_micros,
)
from domain.ports import RecordedEvent


class InMemoryEventStore(QueuedEventStore):
    """Holds the log in lists; same queue, writer task and checks as the SQLite store."""

    def __init__(self, queue_batches: int = 10_000) -> None:
        super().__init__(queue_batches)
        self._events: list[RecordedEvent] = []
        self._by_id: dict[str, RecordedEvent] = {}
        self._streams: dict[str, list[RecordedEvent]] = {}

    @classmethod
    async def open(cls, queue_batches: int = 10_000) -> InMemoryEventStore:
        store = cls(queue_batches)
        store._start()
        return store

    async def _commit(self, group: list[Batch]) -> list[list[int] | BaseException]:
        results: list[list[int] | BaseException] = []
        recorded_at = format_recorded_at(now_micros())
        for batch in group:
            try:
                results.append(self._commit_one(batch, recorded_at))
            except Exception as e:
                results.append(e)
        return results

    def _commit_one(self, batch: Batch, recorded_at: str) -> list[int]:
        found = [self._by_id.get(e.event_id) for e in batch.events]
        if any(f is not None for f in found):
            return check_retry(batch, found)
        stream_events = self._streams.setdefault(batch.stream, [])
        check_expected(batch.stream, len(stream_events), batch.expected_version)
        stream_json = canonical_string(batch.stream)
        positions: list[int] = []
        for e in batch.events:
            position = len(self._events) + 1
            version = len(stream_events) + 1
            prev = self._events[-1].hash if self._events else ZERO_HEX
            envelope = envelope_bytes(
                position,
                e.event_id,
                stream_json,
                version,
                canonical_string(e.type),
                e.schema_version,
                recorded_at,
                e.data,
                e.meta,
                prev,
            )
            rec = RecordedEvent(
                position,
                e.event_id,
                batch.stream,
                version,
                e.type,
                e.schema_version,
                recorded_at,
                e.data,
                e.meta,
                prev,
                chain_hash(envelope).hex(),
            )
            self._events.append(rec)
            stream_events.append(rec)
            self._by_id[e.event_id] = rec
            positions.append(position)
        return positions

    async def read_all(
        self, after: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        if types is None:
            return self._events[max(after, 0) : max(after, 0) + max(limit, 0)]
        wanted = set(types)
        out: list[RecordedEvent] = []
        for rec in self._events[max(after, 0) :]:
            if len(out) >= limit:
                break
            if rec.type in wanted:
                out.append(rec)
        return out

    async def read_stream(
        self, stream: str, after_version: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        events = self._streams.get(stream, [])
        start = max(after_version, 0)
        return events[start : start + max(limit, 0)]

    async def head(self) -> int:
        return len(self._events)
