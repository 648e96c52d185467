"""The PostgreSQL write side: one connection per process, one transaction per group of batches.

Sequencing across processes and hosts (docs/adr/0007-postgresql-sequencing.md): each group's
transaction first takes the row lock on ``event_log_head`` (``SELECT … FOR UPDATE``) and holds it
to COMMIT. Positions and the hash chain continue from that row, so writers on every node take
turns: transaction B can only read the head after A committed it, and A's rows are visible
before its lock is released, so a reader never sees position n + 1 without n (no hole to skip).

The fast path resolves the group's new stream and type names in two statements, checks every
batch against stream versions it trusts only while no other node has written since its own last
commit, and writes all rows with one binary ``COPY``. A unique-index clash (an idempotent retry
the fast path could not tell from a new append) rolls the group back and replays it on the slow
path, which looks every event id up first, so each batch gets its own answer. Caches are
published only after COMMIT: ids a rolled-back transaction created are never kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from app.adapters.eventstore.base import Batch, check_expected, check_retry
from app.adapters.eventstore.canonical import (
    ZERO_HASH,
    canonical_string,
    chain_hash,
    envelope_bytes,
    format_recorded_at,
    now_micros,
)
from app.adapters.eventstore.pg_ids import pg_event_id_key
from app.adapters.eventstore.sqlite_writer import CACHED_STREAMS
from domain.ports import ANY, EventStoreError, RecordedEvent

CHANNEL = "ledgergate_events"
"""LISTEN/NOTIFY channel: the payload is the new head position (never events: 8 kB limit)."""

_COPY = (
    "COPY events (position, event_id, stream_id, version, type_id, schema_version,"
    " recorded_at, data, meta, hash) FROM STDIN (FORMAT BINARY)"
)
_COPY_TYPES = ["int8", "bytea", "int8", "int4", "int4", "int4", "int8", "bytea", "bytea", "bytea"]
_LOCK_HEAD = "SELECT position, hash FROM event_log_head WHERE id = 1 FOR UPDATE"
_SET_HEAD = "UPDATE event_log_head SET position = %s, hash = %s WHERE id = 1"
_FIND = (
    "SELECT e.event_id, e.position, s.name, t.name, e.schema_version, e.data, e.meta"
    " FROM events e JOIN event_streams s ON s.stream_id = e.stream_id"
    " JOIN event_types t ON t.type_id = e.type_id WHERE e.event_id = ANY(%s)"
)


def ensure_head_row(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create the sequencing row once (from the log's last event if rows exist without it)."""
    with conn.transaction():
        conn.execute("LOCK TABLE event_log_head IN EXCLUSIVE MODE")
        if conn.execute("SELECT 1 FROM event_log_head WHERE id = 1").fetchone() is None:
            row = conn.execute(
                "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
            ).fetchone()
            position, hashed = (row[0], row[1]) if row else (0, ZERO_HASH)
            conn.execute(
                "INSERT INTO event_log_head (id, position, hash) VALUES (1, %s, %s)",
                (position, hashed),
            )


@dataclass
class Written:
    """What one attempt at a group wrote: published to the caches only once it commits."""

    head: int
    results: list[list[int] | BaseException] = field(default_factory=list)
    streams: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)


class Retry(Exception):
    """The fast path hit a unique index: replay the group on the slow path."""


class PostgresWriter:
    """Owns the write connection; every method runs on the writer thread only."""

    def __init__(self, conninfo: str) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=False)
        ensure_head_row(self.conn)
        self.conn.commit()
        self._streams: dict[str, int] = {}
        self._types: dict[str, int] = {}
        self._type_json: dict[str, bytes] = {}
        self._versions: dict[int, int] = {}  # trusted only while the head is ours
        self._versions_head = -1
        self.head = 0  # the head of this writer's last commit

    def close(self) -> None:
        self.conn.close()

    def commit(self, group: Sequence[Batch]) -> list[list[int] | BaseException]:
        """Commit ``group`` in one durable transaction; per batch, its positions or its error."""
        try:
            try:
                out = self._write(group, careful=False)
            except (psycopg.errors.UniqueViolation, Retry):
                self.conn.rollback()
                self._versions.clear()
                out = self._write(group, careful=True)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            self._versions.clear()
            self._versions_head = -1
            raise
        self._streams.update(out.streams)
        self._types.update(out.types)
        self._versions.update(out.versions)
        self._versions_head = out.head
        self.head = out.head
        if len(self._streams) > 2 * CACHED_STREAMS:
            self._streams = dict(list(self._streams.items())[-CACHED_STREAMS:])
        if len(self._versions) > 2 * CACHED_STREAMS:
            self._versions = dict(list(self._versions.items())[-CACHED_STREAMS:])
        return out.results

    def _ids(self, table: str, key: str, names: set[str], known: dict[str, int]) -> dict[str, int]:
        """Ids of ``names`` missing from ``known``, creating rows for new ones (in this txn)."""
        missing = [n for n in names if n not in known]
        if not missing:
            return {}
        self.conn.execute(
            f"INSERT INTO {table} (name) SELECT unnest(%s::text[]) ON CONFLICT (name) DO NOTHING",
            (missing,),
        )
        rows = self.conn.execute(
            f"SELECT name, {key} FROM {table} WHERE name = ANY(%s)", (missing,)
        ).fetchall()
        return {str(name): int(i) for name, i in rows}

    def _write(self, group: Sequence[Batch], careful: bool) -> Written:
        conn = self.conn
        row = conn.execute(_LOCK_HEAD).fetchone()
        assert row is not None, "event_log_head has no row: run `ledgergate migrate`"
        out = Written(int(row[0]))
        head, prev = out.head, bytes(row[1])
        known = self._versions if head == self._versions_head else {}
        names = {b.stream for b in group}
        out.streams = self._ids("event_streams", "stream_id", names, self._streams)
        type_names = {e.type for b in group for e in b.events}
        out.types = self._ids("event_types", "type_id", type_names, self._types)
        stream_ids = {n: self._streams.get(n) or out.streams[n] for n in names}
        versions = out.versions = self._stream_versions(set(stream_ids.values()), known)
        stored = self._find([e.event_id for b in group for e in b.events]) if careful else {}
        micros = now_micros()
        recorded_at = format_recorded_at(micros)
        rows: list[tuple[object, ...]] = []
        taken: set[str] = set()
        for batch in group:
            stream_id = stream_ids[batch.stream]
            current = versions[stream_id]
            try:
                earlier = self._earlier(batch, current, stored, taken)
            except EventStoreError as exc:
                out.results.append(exc)
                continue
            if earlier is not None:
                out.results.append(earlier)
                continue
            stream_json = canonical_string(batch.stream)
            positions = []
            for e in batch.events:
                head += 1
                current += 1
                type_json = self._type_json.get(e.type)
                if type_json is None:
                    type_json = self._type_json[e.type] = canonical_string(e.type)
                envelope = envelope_bytes(
                    head, e.event_id, stream_json, current, type_json, e.schema_version,
                    recorded_at, e.data, e.meta, prev.hex(),
                )  # fmt: skip
                prev = chain_hash(envelope)
                type_id = self._types.get(e.type) or out.types[e.type]
                meta = None if e.meta == b"{}" else e.meta
                key = pg_event_id_key(e.event_id)
                rows.append(
                    (head, key, stream_id, current, type_id, e.schema_version, micros, e.data,
                     meta, prev)
                )  # fmt: skip
                positions.append(head)
                if careful:  # a later batch of this group may be its retry
                    stored[e.event_id] = RecordedEvent(
                        head, e.event_id, batch.stream, current, e.type, e.schema_version, "",
                        e.data, e.meta, "", "",
                    )  # fmt: skip
                else:
                    taken.add(e.event_id)
            versions[stream_id] = current
            out.results.append(positions)
        if rows:
            with conn.cursor().copy(_COPY) as copy:
                copy.set_types(_COPY_TYPES)
                for r in rows:
                    copy.write_row(r)
        if head != out.head:
            conn.execute(_SET_HEAD, (head, prev))
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(head)))
        out.head = head
        return out

    def _stream_versions(self, stream_ids: set[int], known: dict[int, int]) -> dict[int, int]:
        """Current version of each stream: from ``known`` if trusted, else from the table."""
        versions = {sid: known[sid] for sid in stream_ids if sid in known}
        unknown = [sid for sid in stream_ids if sid not in known]
        if unknown:
            rows = self.conn.execute(
                "SELECT stream_id, max(version) FROM events WHERE stream_id = ANY(%s)"
                " GROUP BY stream_id",
                (unknown,),
            ).fetchall()
            versions |= {sid: 0 for sid in unknown} | {int(s): int(v) for s, v in rows}
        return versions

    def _earlier(
        self, batch: Batch, current: int, stored: dict[str, RecordedEvent], taken: set[str]
    ) -> list[int] | None:
        """The positions of an identical earlier append, None for a new one; else raise."""
        if any(e.event_id in stored for e in batch.events):
            return check_retry(batch, [stored.get(e.event_id) for e in batch.events])
        if any(e.event_id in taken for e in batch.events):
            raise Retry  # maybe a retry of a batch earlier in this group: decide carefully
        if batch.expected_version in (ANY, current):
            return None  # a retry with ANY shows as a unique-index clash at COPY
        found = self._find([e.event_id for e in batch.events])
        if found:
            return check_retry(batch, [found.get(e.event_id) for e in batch.events])
        check_expected(batch.stream, current, batch.expected_version)
        return None

    def _find(self, event_ids: list[str]) -> dict[str, RecordedEvent]:
        """Stored events by id (only what ``check_retry`` compares is filled in)."""
        keys = {pg_event_id_key(i): i for i in event_ids}
        rows = self.conn.execute(_FIND, (list(keys),)).fetchall()
        found: dict[str, RecordedEvent] = {}
        for key, position, stream, type_, schema_version, data, meta in rows:
            event_id = keys[bytes(key)]
            found[event_id] = RecordedEvent(
                position, event_id, stream, 0, type_, schema_version, "", bytes(data),
                bytes(meta) if meta is not None else b"{}", "", "",
            )  # fmt: skip
        return found
