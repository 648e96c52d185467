"""Export the log as the contract's JSON Lines, and verify positions and the hash chain.

Shared by ``ledgergate events`` and the admin API. One exported line holds the members in the
contract's order; its ``hash`` is the SHA-256 of the RFC 8785 form of the line without ``hash``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
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


class ChainCheck:
    """The running state of one verification, fed pages of events in position order."""

    def __init__(self) -> None:
        self.prev_hash, self.position, self.count = ZERO_HEX, 0, 0
        self.versions: dict[str, int] = {}

    def feed(self, batch: Sequence[RecordedEvent]) -> Verdict | None:
        """Check ``batch``; the verdict at its first bad event, else None."""
        for rec in batch:
            expected = self.position + 1
            if rec.position != expected:
                return Verdict(self.count, expected, f"position {expected} is missing")
            if rec.prev_hash != self.prev_hash:
                why = "prev_hash does not match the previous hash"
                return Verdict(self.count, rec.position, why)
            if rec.hash != expected_hash(rec, self.prev_hash):
                return Verdict(self.count, rec.position, "hash does not match the event's content")
            version = self.versions.get(rec.stream, 0) + 1
            if rec.version != version:
                why = f"stream version {rec.version}, not {version}"
                return Verdict(self.count, rec.position, why)
            self.versions[rec.stream] = version
            self.prev_hash, self.position, self.count = rec.hash, rec.position, self.count + 1
        return None

    def finish(self, head: tuple[int, bytes] | None) -> Verdict:
        """The verdict once every event is read, given the store's chain head (if it keeps one)."""
        position, prev_hash = self.position, self.prev_hash
        if head is not None and (head[0] != position or head[1].hex() != prev_hash):
            if head[0] > position:
                why = f"log ends at {position} but its chain head is {head[0]} (truncated tail)"
                return Verdict(self.count, position + 1, why)
            return Verdict(self.count, head[0], "the chain head does not match the last event")
        return Verdict(self.count)


async def verify(store: EventStore, page: int = 5000, *, offload: bool = False) -> Verdict:
    """Check positions are dense from 1, versions dense per stream, and every hash and link.

    Compares the last event with the stored chain head when the store keeps one (SQLite), which
    is how a truncated tail shows. ``offload`` hashes each page in a worker thread, so a check
    run inside the gateway leaves its event loop free between pages.
    """
    check = ChainCheck()
    while batch := await store.read_all(check.position, page):
        bad = await asyncio.to_thread(check.feed, batch) if offload else check.feed(batch)
        if bad is not None:
            return bad
    chain_head = getattr(store, "chain_head", None)
    return check.finish(await chain_head() if chain_head is not None else None)


def bundle_bytes(checkpoint: str, events: Sequence[RecordedEvent], proofs_json: bytes) -> bytes:
    """A request's audit bundle: ``{"checkpoint", "events": [exported events], "proofs"}``."""
    return b"".join(
        (
            b'{"checkpoint":',
            canonical_string(checkpoint),
            b',"events":[',
            b",".join(export_line(rec) for rec in events),
            b'],"proofs":',
            proofs_json,
            b"}",
        )
    )


class JsonLinesExport:
    """``app.ports.log_export.LogExport`` on the functions above."""

    def line(self, rec: RecordedEvent) -> bytes:
        return export_line(rec)

    def bundle(self, checkpoint: str, events: Sequence[RecordedEvent], proofs_json: bytes) -> bytes:
        return bundle_bytes(checkpoint, events, proofs_json)
