"""The SQLite write side: one connection, one thread, one transaction per group of batches.

Positions, versions and the hash chain are computed inside ``BEGIN IMMEDIATE`` from the chain
head as stored, so a second process appending to the same file can never cause a hole or a
fork. The hot path is a few multi-row ``INSERT``s (one statement releases the GIL once, where
``executemany`` releases it per row and waits for it back each time while producers run on the
event loop); a unique-index clash (an idempotent retry, a
``(stream, version)`` race) rolls the group back and replays it batch by batch under savepoints,
so one bad batch fails alone and the others still commit.

Memory stays flat however long the process serves: ``INSERT`` shapes are powers of two (each
distinct row count is a prepared statement in the connection's cache, up to ~0.5 MB for 512
rows), the page cache is 8 MB, and the stream caches keep only recent streams (a miss is one
indexed lookup).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Sequence

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
from app.adapters.eventstore.event_ids import event_id_key
from app.adapters.eventstore.faults import storage_fault
from domain.ports import (
    ANY,
    EventStoreError,
    LogUnavailable,
    RecordedEvent,
    WrongExpectedVersion,
)

_INSERT = (
    "INSERT INTO events (position, event_id, stream_id, version, type_id, schema_version,"
    " recorded_at, data, meta, hash) VALUES "
)
_COLUMNS = 10
_CHUNK = 512  # rows per statement at most: 5,120 parameters, under SQLite's 32,766
PROBE_ROOM = 1 << 20
"""Bytes the log must be able to grow by before a probe calls it writable again. A full disk
still takes the probe's own write (it rewrites a page in place), yet fails every request."""


@functools.cache
def _insert_sql(rows: int) -> str:
    return _INSERT + ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * rows)


def insert_rows(conn: sqlite3.Connection, flat: list[object]) -> None:
    """Insert rows given as one flat parameter list, in statements of 512, 256, …, 1 rows.

    Only these ten shapes are ever prepared, so the statement cache stays ~1 MB; a group of
    ``n`` rows takes at most ``log2(n) + 1`` statements.
    """
    start, end = 0, len(flat)
    rows = _CHUNK
    while start < end:
        while rows * _COLUMNS > end - start:
            rows //= 2
        stop = start + rows * _COLUMNS
        conn.execute(_insert_sql(rows), flat[start:stop])
        start = stop


_SET_HEAD = (
    "INSERT INTO event_log_head (id, position, hash) VALUES (1, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET position = excluded.position, hash = excluded.hash"
)
_FIND = (
    "SELECT e.position, s.name, t.name, e.schema_version, e.data, e.meta FROM events e"
    " JOIN event_streams s ON s.stream_id = e.stream_id"
    " JOIN event_types t ON t.type_id = e.type_id WHERE e.event_id = ?"
)


def connect(path: str, synchronous: str, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, cached_statements=1024
    )
    conn.execute("PRAGMA busy_timeout = 10000")
    if readonly:
        conn.execute("PRAGMA query_only = 1")
        # No mmap (it was 256 MB): every page of the log the projections and the audit follower
        # read stayed mapped, and counted in the gateway's RSS, as the log grew. Reads go
        # through SQLite's page cache (2 MB); catch-up speed is the same (docs/performance.md).
        return conn
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {'NORMAL' if synchronous == 'NORMAL' else 'FULL'}")
    conn.execute("PRAGMA journal_size_limit = 67108864")
    # Explicit checkpoints run between commits; this is only the safety net.
    conn.execute("PRAGMA wal_autocheckpoint = 10000")
    # 8 MB: the hot pages are the indexes' right edges; more only grew RSS as the log grew.
    conn.execute("PRAGMA cache_size = -8192")
    return conn


class SqliteWriter:
    """Owns the write connection; every method runs on the writer thread only."""

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self.path = path
        self.conn = connect(path, synchronous)
        self._streams: dict[str, int] = {}
        self._types: dict[str, int] = {}
        self._type_json: dict[str, bytes] = {}
        self._new_streams: dict[str, int] = {}
        self._new_types: dict[str, int] = {}
        # Stream versions as of ``_versions_head``: trusted only while no other process wrote.
        self._versions: dict[int, int] = {}
        self._versions_head = -1
        self._committed_head = -1
        self.checkpointed_at = time.monotonic()

    def close(self) -> None:
        self.checkpoint()
        self.conn.close()

    def checkpoint(self) -> None:
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.checkpointed_at = time.monotonic()

    def probe(self) -> None:
        """One durable write that changes nothing (the head row again) and room to grow by
        ``PROBE_ROOM``, or ``LogUnavailable``."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("UPDATE event_log_head SET position = position WHERE id = 1")
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise storage_fault(exc) or exc from exc
        if self.room() < PROBE_ROOM:
            raise LogUnavailable("the disk is full")

    def room(self) -> int:
        """Bytes the log can still grow by: free pages under SQLite's page limit, and free
        space on the file's disk."""

        def pragma(name: str) -> int:
            return int(self.conn.execute(f"PRAGMA {name}").fetchone()[0])

        pages = pragma("max_page_count") - pragma("page_count") + pragma("freelist_count")
        disk = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        return min(pages * pragma("page_size"), disk.f_bavail * disk.f_frsize)

    def commit(self, group: Sequence[Batch]) -> list[list[int] | BaseException]:
        """Commit ``group`` in one durable transaction; per batch, its positions or its error."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                results = self._write(group, isolate=False)
            except sqlite3.IntegrityError:
                self.conn.execute("ROLLBACK")
                self._new_streams.clear()
                self._new_types.clear()
                self._versions.clear()
                self.conn.execute("BEGIN IMMEDIATE")
                results = self._write(group, isolate=True)
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            self._versions.clear()
            self._versions_head = -1
            self._new_streams.clear()
            self._new_types.clear()
            fault = storage_fault(exc)
            if fault is not None and fault is not exc:
                raise fault from exc
            raise
        self._versions_head = self._committed_head
        self._streams.update(self._new_streams)
        self._types.update(self._new_types)
        self._new_streams.clear()
        self._new_types.clear()
        self._streams = trimmed(self._streams)
        self._versions = trimmed(self._versions)
        return results

    def _read_head(self, past_strays: bool = False) -> tuple[int, bytes]:
        """The chain head; ``past_strays``: or the last row, if one was written behind our back.

        A row another program inserted without moving the head would clash with every new
        position; continuing after it keeps the log writable and ``verify`` names that row.
        """
        row = self.conn.execute("SELECT position, hash FROM event_log_head WHERE id = 1").fetchone()
        if row is None or past_strays:
            last = self.conn.execute(
                "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
            ).fetchone()
            if last is not None and (row is None or last[0] > row[0]):
                row = last
        return (row[0], row[1]) if row else (0, ZERO_HASH)

    def _write(self, group: Sequence[Batch], isolate: bool) -> list[list[int] | BaseException]:
        conn = self.conn
        head, prev = self._read_head(past_strays=isolate)
        start_head = head
        if head != self._versions_head:
            self._versions.clear()  # another process appended: re-read
        known = self._versions
        pending_ids: set[str] = set()
        micros = now_micros()
        recorded_at = format_recorded_at(micros)
        versions: dict[str, int] = {}
        results: list[list[int] | BaseException] = []
        rows: list[object] = []  # flat: _COLUMNS values per event
        for batch in group:
            saved = (head, prev, len(rows))
            if isolate:  # ids a ``ROLLBACK TO batch`` removes must leave the caches too
                saved_ids = (dict(self._new_streams), dict(self._new_types))
            try:
                if isolate:
                    conn.execute("SAVEPOINT batch")
                stream_id = self._stream_id(batch.stream, create=False)
                current = versions.get(batch.stream)
                if current is None:
                    current = known.get(stream_id) if stream_id is not None else 0
                if current is None:
                    current = self._stream_version(stream_id)
                expected = batch.expected_version
                if expected not in (ANY, current):
                    found = self._find(batch)
                    if any(f is not None for f in found):
                        results.append(check_retry(batch, found))
                        if isolate:
                            conn.execute("RELEASE batch")
                        continue
                    if not isolate and any(e.event_id in pending_ids for e in batch.events):
                        # maybe a retry of a batch earlier in this group: decide under savepoints
                        raise sqlite3.IntegrityError("event id repeated within a group")
                    check_expected(batch.stream, current, expected)
                if stream_id is None:
                    stream_id = self._stream_id(batch.stream, create=True)
                assert stream_id is not None
                stream_json = canonical_string(batch.stream)
                positions = []
                for e in batch.events:
                    head += 1
                    current += 1
                    type_json = self._type_json.get(e.type)
                    if type_json is None:
                        type_json = self._type_json[e.type] = canonical_string(e.type)
                    envelope = envelope_bytes(
                        head,
                        e.event_id,
                        stream_json,
                        current,
                        type_json,
                        e.schema_version,
                        recorded_at,
                        e.data,
                        e.meta,
                        prev.hex(),
                    )
                    prev = chain_hash(envelope)
                    meta = None if e.meta == b"{}" else e.meta
                    type_id = self._type_id(e.type)
                    rows += (
                        head,
                        event_id_key(e.event_id),
                        stream_id,
                        current,
                        type_id,
                        e.schema_version,
                        micros,
                        e.data,
                        meta,
                        prev,
                    )
                    positions.append(head)
                    if not isolate:
                        pending_ids.add(e.event_id)
                if isolate:
                    insert_rows(conn, rows[saved[2] :])
                    conn.execute("RELEASE batch")
                versions[batch.stream] = current
                known[stream_id] = current
                results.append(positions)
            except sqlite3.IntegrityError:
                if not isolate:
                    raise
                conn.execute("ROLLBACK TO batch")
                conn.execute("RELEASE batch")
                self._new_streams, self._new_types = saved_ids
                head, prev = saved[0], saved[1]
                del rows[saved[2] :]
                results.append(self._classify(batch))
            except EventStoreError as e:
                if isolate:
                    conn.execute("ROLLBACK TO batch")
                    conn.execute("RELEASE batch")
                    self._new_streams, self._new_types = saved_ids
                head, prev = saved[0], saved[1]
                del rows[saved[2] :]
                results.append(e)
        if not isolate and rows:
            insert_rows(conn, rows)
        if head != start_head:
            conn.execute(_SET_HEAD, (head, prev))
        self._committed_head = head
        return results

    def _classify(self, batch: Batch) -> list[int] | BaseException:
        """Why a batch hit a unique index: an earlier identical append, or a version race."""
        found = self._find(batch)
        if any(f is not None for f in found):
            try:
                return check_retry(batch, found)
            except Exception as e:
                return e
        return WrongExpectedVersion(f"stream {batch.stream!r}: (stream, version) already taken")

    def _find(self, batch: Batch) -> list[RecordedEvent | None]:
        found: list[RecordedEvent | None] = []
        for e in batch.events:
            row = self.conn.execute(_FIND, (event_id_key(e.event_id),)).fetchone()
            if row is None:
                found.append(None)
                continue
            found.append(stored_event(e.event_id, row))
        return found

    def _stream_id(self, name: str, create: bool) -> int | None:
        sid = self._streams.get(name) or self._new_streams.get(name)
        if sid is not None:
            return sid
        row = self.conn.execute(
            "SELECT stream_id FROM event_streams WHERE name = ?", (name,)
        ).fetchone()
        if row is not None:
            self._new_streams[name] = row[0]
            return int(row[0])
        if not create:
            return None
        cur = self.conn.execute("INSERT INTO event_streams (name) VALUES (?)", (name,))
        assert cur.lastrowid is not None
        self._new_streams[name] = cur.lastrowid
        return cur.lastrowid

    def _stream_version(self, stream_id: int | None) -> int:
        if stream_id is None:
            return 0
        row = self.conn.execute(
            "SELECT max(version) FROM events WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        return int(row[0] or 0)

    def _type_id(self, name: str) -> int:
        tid = self._types.get(name) or self._new_types.get(name)
        if tid is not None:
            return tid
        row = self.conn.execute(
            "SELECT type_id FROM event_types WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            cur = self.conn.execute("INSERT INTO event_types (name) VALUES (?)", (name,))
            assert cur.lastrowid is not None
            tid = cur.lastrowid
        else:
            tid = int(row[0])
        self._new_types[name] = tid
        return tid
