"""Export the log as the contract's JSON Lines, and verify positions and the hash chain.

Shared by ``ledgergate events`` and the admin API. One exported line holds the members in the
contract's order; its ``hash`` is the SHA-256 of the RFC 8785 form of the line without ``hash``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from app.adapters.eventstore.canonical import (
    ZERO_HEX,
    canonical_string,
    chain_hash,
    envelope_bytes,
)
from domain.ports import EventStore, RecordedEvent


def export_line(rec: RecordedEvent) -> bytes:
    """One event as the contract's JSON object (no newline)."""
    return b"".join(
        (
            b'{"position":',
            str(rec.position).encode(),
            b',"event_id":',
            canonical_string(rec.event_id),
            b',"stream":',
            canonical_string(rec.stream),
            b',"version":',
            str(rec.version).encode(),
            b',"type":',
            canonical_string(rec.type),
            b',"schema_version":',
            str(rec.schema_version).encode(),
            b',"recorded_at":"',
            rec.recorded_at.encode(),
            b'","data":',
            rec.data,
            b',"meta":',
            rec.meta,
            b',"prev_hash":"',
            rec.prev_hash.encode(),
            b'","hash":"',
            rec.hash.encode(),
            b'"}',
        )
    )


async def iter_events(
    store: EventStore,
    after: int = 0,
    stream: str | None = None,
    types: Sequence[str] | None = None,
    page: int = 1000,
) -> AsyncIterator[RecordedEvent]:
    """Every event with ``position > after``, optionally of one stream and/or some types."""
    if stream is not None:
        version = 0
        while batch := await store.read_stream(stream, version, page):
            version = batch[-1].version
            for rec in batch:
                if rec.position > after and (types is None or rec.type in types):
                    yield rec
        return
    while batch := await store.read_all(after, page, types):
        after = batch[-1].position
        for rec in batch:
            yield rec


def expected_hash(rec: RecordedEvent, prev_hash: str) -> str:
    """The hash ``rec`` must carry if its predecessor's hash is ``prev_hash``."""
    envelope = envelope_bytes(
        rec.position,
        rec.event_id,
        canonical_string(rec.stream),
        rec.version,
        canonical_string(rec.type),
        rec.schema_version,
        rec.recorded_at,
        rec.data,
        rec.meta,
        prev_hash,
    )
    return chain_hash(envelope).hex()


@dataclass(slots=True)
class Verdict:
    """The outcome of ``verify``: ``bad_position`` is None when the log is sound."""

    count: int
    bad_position: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_position is None


async def verify(store: EventStore, page: int = 5000) -> Verdict:
    """Check positions are dense from 1, versions dense per stream, and every hash and link.

    Compares the last event with the stored chain head when the store keeps one (SQLite), which
    is how a truncated tail shows.
    """
    prev_hash, position, count = ZERO_HEX, 0, 0
    versions: dict[str, int] = {}
    while batch := await store.read_all(position, page):
        for rec in batch:
            expected = position + 1
            if rec.position != expected:
                return Verdict(count, expected, f"position {expected} is missing")
            if rec.prev_hash != prev_hash:
                return Verdict(count, rec.position, "prev_hash does not match the previous hash")
            if rec.hash != expected_hash(rec, prev_hash):
                return Verdict(count, rec.position, "hash does not match the event's content")
            version = versions.get(rec.stream, 0) + 1
            if rec.version != version:
                return Verdict(count, rec.position, f"stream version {rec.version}, not {version}")
            versions[rec.stream] = version
            prev_hash, position, count = rec.hash, rec.position, count + 1
    chain_head = getattr(store, "chain_head", None)
    if chain_head is not None:
        head = await chain_head()
        if head is not None and (head[0] != position or head[1].hex() != prev_hash):
            if head[0] > position:
                why = f"log ends at {position} but its chain head is {head[0]} (truncated tail)"
                return Verdict(count, position + 1, why)
            return Verdict(count, head[0], "the chain head does not match the last event")
    return Verdict(count)
