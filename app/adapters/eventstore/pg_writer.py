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

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from app.adapters.eventstore.base import (
    Batch,
    check_expected,
    check_retry,
    stored_event,
    trimmed,
)
from app.adapters.eventstore.canonical import (
    ZERO_HASH,
    canonical_string,
    chain_hash,
    envelope_bytes,
    format_recorded_at,
    now_micros,
)
from app.adapters.eventstore.event_ids import UUID_BYTES, pg_event_id_key
from domain.ports import ANY, EventStoreError, RecordedEvent

CHANNEL = "ledgergate_events"
"""LISTEN/NOTIFY channel: the payload is the new head position (never events: 8 kB limit)."""

_COPY = (
    "COPY events (position, event_id, stream_id, version, type_id, schema_version,"
    " recorded_at, data, meta, hash) FROM STDIN (FORMAT BINARY)"
)
# The binary COPY format (PostgreSQL docs, "COPY", "Binary Format"), written by hand: a row is a
# field count, then each field as its length and its bytes (-1: NULL), big-endian.
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_TRAILER = b"\xff\xff"
_ROW_UUID = struct.Struct(">hiqi16siqiiiiiiiqi").pack
"""A row up to the length of ``data``, for a 16-byte event id: the common case, one call."""
_ROW_ID = struct.Struct(">hiqi").pack  # field count, position, the event id's length
_ROW_REST = struct.Struct(">iqiiiiiiiqi").pack  # stream id … recorded_at, the data's length
_LENGTH = struct.Struct(">i").pack
_NULL = _LENGTH(-1)
_HASH_LENGTH = _LENGTH(32)
ROWS_PER_WRITE = 256
"""Rows formatted before they are sent: the server inserts them while the next ones are hashed."""
# The writer's connection is in autocommit mode and opens its transactions itself, so that BEGIN
# goes with the first statement and COMMIT with the last: with no parameters, psycopg sends a
# query text as one simple-protocol message, which may hold several statements. Values go in as
# literals, quoted by psycopg (``sql.Literal``). (psycopg's pipeline mode measured slower here:
# it flushes every statement and polls more, ~11 sends per group against 7.)
_BEGIN = sql.SQL("BEGIN; SELECT position, hash FROM event_log_head WHERE id = 1 FOR UPDATE")
# Ids and current versions of the named streams, creating the missing ones, read under the head's
# lock (the statement after it). A name another transaction created after this statement's
# snapshot is in neither half; the caller asks again for it.
_STREAMS = sql.SQL(
    "WITH names AS (SELECT unnest({}::text[]) AS name),"
    " new AS (INSERT INTO event_streams (name) SELECT name FROM names"
    " ON CONFLICT (name) DO NOTHING RETURNING name, stream_id)"
    " SELECT name, stream_id, 0 FROM new UNION ALL"
    " SELECT s.name, s.stream_id,"
    " coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = s.stream_id), 0)"
    " FROM event_streams s JOIN names USING (name)"
)
_COMMIT = sql.SQL(  # the new head, the wake-up of every node and COMMIT: one round trip
    "UPDATE event_log_head SET position = {}, hash = {} WHERE id = 1;"
    f" NOTIFY {CHANNEL}, {{}}; COMMIT"
)
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
    hash: bytes | None = None  # the new chain head's hash, if rows were written
    results: list[list[int] | BaseException] = field(default_factory=list)
    streams: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)


class Retry(Exception):
    """The fast path hit a unique index: replay the group on the slow path."""


class PostgresWriter:
    """Owns the write connection; every method runs on the writer thread only."""

    def __init__(self, conninfo: str) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True)  # BEGIN and COMMIT: ours
        ensure_head_row(self.conn)
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
            if out.hash is None:
                self.conn.commit()
            else:
                head = sql.Literal(out.head)
                self.conn.execute(_COMMIT.format(head, sql.Literal(out.hash), str(out.head)))
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
        self._streams = trimmed(self._streams)
        self._versions = trimmed(self._versions)
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
        names = {b.stream for b in group}
        ask = [n for n in names if self._versions.get(self._streams.get(n, -1)) is None]
        query = _BEGIN if not ask else sql.SQL("; ").join([_BEGIN, _STREAMS.format(ask)])
        locked = conn.execute(query)  # BEGIN, the head's lock, the streams: one round trip
        locked.nextset()  # past BEGIN's result
        row = locked.fetchone()
        assert row is not None, "event_log_head has no row: run `ledgergate migrate`"
        out = Written(int(row[0]))
        head, prev = out.head, bytes(row[1])
        fresh: dict[int, int] = {}  # read under the lock
        streams = locked.fetchall() if locked.nextset() else []
        for name, sid, version in streams:
            out.streams[str(name)] = int(sid)
            fresh[int(sid)] = int(version)
        missing = {n for n in ask if n not in out.streams}  # created by another node just now
        out.streams |= self._ids("event_streams", "stream_id", missing, {})
        type_names = {e.type for b in group for e in b.events}
        out.types = self._ids("event_types", "type_id", type_names, self._types)
        stream_ids = {n: out.streams.get(n) or self._streams[n] for n in names}
        known = (self._versions if head == self._versions_head else {}) | fresh
        versions = out.versions = self._stream_versions(set(stream_ids.values()), known)
        if careful:
            stored = self._find([e.event_id for b in group for e in b.events])
        else:
            stored = {}
            ids = [e.event_id for b in group for e in b.events]
            if len(set(ids)) != len(ids):
                raise Retry  # maybe a retry of a batch earlier in this group: decide carefully
        # First decide every batch (positions, versions, errors: all lookups happen here),
        # then hash and stream the rows, so that the server inserts while Python still hashes.
        accepted: list[tuple[Batch, int, int, int]] = []  # batch, stream id, version, position
        for batch in group:
            stream_id = stream_ids[batch.stream]
            current = versions[stream_id]
            expected = batch.expected_version
            if careful or expected not in (ANY, current):
                try:
                    earlier = self._earlier(batch, current, stored)
                except EventStoreError as exc:
                    out.results.append(exc)
                    continue
                if earlier is not None:
                    out.results.append(earlier)
                    continue
            count = len(batch.events)
            accepted.append((batch, stream_id, current, head))
            out.results.append(list(range(head + 1, head + count + 1)))
            if careful:  # a later batch of this group may be its retry
                for i, e in enumerate(batch.events, 1):
                    stub = (head + i, batch.stream, e.type, e.schema_version, e.data, e.meta)
                    stored[e.event_id] = stored_event(e.event_id, stub)
            head += count
            versions[stream_id] = current + count
        if accepted:
            out.hash = self._copy(accepted, out.types, prev)
        out.head = head
        return out

    def _copy(
        self, accepted: list[tuple[Batch, int, int, int]], new_types: dict[str, int], prev: bytes
    ) -> bytes:
        """Hash the accepted batches' events into the chain after ``prev`` and ``COPY`` them.

        The rows are formatted here (``COPY`` binary format) and sent every ``ROWS_PER_WRITE``
        rows: psycopg's ``write_row`` cost 1 µs per row, 4x this, on the writer's critical path.
        """
        micros = now_micros()
        recorded_at = format_recorded_at(micros)
        type_ids = self._types | new_types
        type_json = self._type_json
        stream_json: dict[str, bytes] = {}
        parts: list[bytes] = [_SIGNATURE]
        add = parts.extend
        with self.conn.cursor().copy(_COPY) as copy:
            for batch, stream_id, first_version, first_position in accepted:
                sj = stream_json.get(batch.stream)
                if sj is None:
                    sj = stream_json[batch.stream] = canonical_string(batch.stream)
                for i, e in enumerate(batch.events, 1):
                    position, version = first_position + i, first_version + i
                    tj = type_json.get(e.type)
                    if tj is None:
                        tj = type_json[e.type] = canonical_string(e.type)
                    data, meta = e.data, e.meta
                    envelope = envelope_bytes(
                        position, e.event_id, sj, version, tj, e.schema_version,
                        recorded_at, data, meta, prev.hex(),
                    )  # fmt: skip
                    prev = chain_hash(envelope)
                    key = pg_event_id_key(e.event_id)
                    type_id = type_ids[e.type]
                    if len(key) == UUID_BYTES:
                        add((
                            _ROW_UUID(10, 8, position, 16, key, 8, stream_id, 4, version, 4,
                                      type_id, 4, e.schema_version, 8, micros, len(data)),
                            data,
                        ))  # fmt: skip
                    else:
                        add((
                            _ROW_ID(10, 8, position, len(key)),
                            key,
                            _ROW_REST(8, stream_id, 4, version, 4, type_id, 4, e.schema_version,
                                      8, micros, len(data)),
                            data,
                        ))  # fmt: skip
                    add((_NULL,) if meta == b"{}" else (_LENGTH(len(meta)), meta))
                    add((_HASH_LENGTH, prev))
                    if position % ROWS_PER_WRITE == 0:
                        copy.write(b"".join(parts))
                        parts.clear()
            parts.append(_TRAILER)
            copy.write(b"".join(parts))
        return prev

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
        self, batch: Batch, current: int, stored: dict[str, RecordedEvent]
    ) -> list[int] | None:
        """The positions of an identical earlier append, None for a new one; else raise."""
        if any(e.event_id in stored for e in batch.events):
            return check_retry(batch, [stored.get(e.event_id) for e in batch.events])
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
            row = (position, stream, type_, schema_version, bytes(data), meta and bytes(meta))
            found[keys[bytes(key)]] = stored_event(keys[bytes(key)], row)
        return found
