"""The SQLite read side: keyset pages by position, by stream, by type, on its own connection.

Rows become ``RecordedEvent`` here: the event id back to its text, ``recorded_at`` to RFC 3339,
hashes to hex, and ``prev_hash`` from the previous position's row (it is not stored).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.adapters.eventstore.canonical import ZERO_HASH, format_recorded_at
from app.adapters.eventstore.sqlite_writer import connect
from domain.ports import RecordedEvent

_COLUMNS = (
    "e.position, e.event_id, s.name, e.version, e.type_id, e.schema_version, e.recorded_at,"
    " e.data, e.meta, e.hash"
)
_FROM = " FROM events e JOIN event_streams s ON s.stream_id = e.stream_id"
_PREV = ", (SELECT p.hash FROM events p WHERE p.position = e.position - 1)"


def event_id_text(value: bytes | str) -> str:
    if isinstance(value, str):
        return value
    h = value.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class SqliteReader:
    """One read-only connection; every method runs on the reader thread only."""

    def __init__(self, path: str) -> None:
        self.conn = connect(path, "FULL", readonly=True)
        self._types: dict[int, str] = {}
        self._type_ids: dict[str, int] = {}

    def close(self) -> None:
        self.conn.close()

    def head(self) -> int:
        row = self.conn.execute("SELECT max(position) FROM events").fetchone()
        return int(row[0] or 0)

    def chain_head(self) -> tuple[int, bytes] | None:
        row = self.conn.execute("SELECT position, hash FROM event_log_head WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def _load_types(self) -> None:
        for type_id, name in self.conn.execute("SELECT type_id, name FROM event_types"):
            self._types[type_id] = name
            self._type_ids[name] = type_id

    def _convert(self, rows: list[Any], prev: bytes | None) -> list[RecordedEvent]:
        """Rows of ``_COLUMNS`` (+ prev hash if ``prev`` is None) into RecordedEvents."""
        types = self._types
        out: list[RecordedEvent] = []
        append = out.append
        for row in rows:
            type_id = row[4]
            name = types.get(type_id)
            if name is None:
                self._load_types()
                name = types[type_id]
            if prev is None:
                before = row[10] if row[10] is not None else ZERO_HASH
            else:
                before = prev
                prev = row[9]
            event_id = row[1]
            append(
                RecordedEvent(
                    row[0],
                    event_id if isinstance(event_id, str) else event_id_text(event_id),
                    row[2],
                    row[3],
                    name,
                    row[5],
                    format_recorded_at(row[6]),
                    row[7],
                    row[8] if row[8] is not None else b"{}",
                    before.hex(),
                    row[9].hex(),
                )
            )
        return out

    def read_all(
        self, after: int, limit: int, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        after = max(after, 0)
        if types is None:
            rows = self.conn.execute(
                f"SELECT {_COLUMNS}{_FROM} WHERE e.position > ? ORDER BY e.position LIMIT ?",
                (after, limit),
            ).fetchall()
            if not rows:
                return []
            prev = ZERO_HASH
            if rows[0][0] > 1:
                row = self.conn.execute(
                    "SELECT hash FROM events WHERE position = ?", (rows[0][0] - 1,)
                ).fetchone()
                prev = row[0] if row else ZERO_HASH
            return self._convert(rows, prev)
        wanted = [t for t in types if t in self._type_ids]
        if len(wanted) != len(types):
            self._load_types()
            wanted = [t for t in types if t in self._type_ids]
        if not wanted:
            return []
        ids = [self._type_ids[t] for t in wanted]
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT {_COLUMNS}{_PREV}{_FROM} WHERE e.type_id IN ({marks}) AND e.position > ?"
            " ORDER BY e.position LIMIT ?",
            (*ids, after, limit),
        ).fetchall()
        return self._convert(rows, None)

    def read_hashes(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, 32-byte hash) of the events after ``after``: what the audit tree reads."""
        rows: list[tuple[int, bytes]] = self.conn.execute(
            "SELECT position, hash FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (max(after, 0), limit),
        ).fetchall()
        return rows

    def read_stream(self, stream: str, after_version: int, limit: int) -> list[RecordedEvent]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS}{_PREV}{_FROM} WHERE s.name = ? AND e.version > ?"
            " ORDER BY e.version LIMIT ?",
            (stream, max(after_version, 0), limit),
        ).fetchall()
        return self._convert(rows, None)


def is_migrated(path: str) -> bool:
    """Whether the log's tables exist in the SQLite file at ``path`` (without creating it)."""
    try:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return False
    try:
        row = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'event_log_head'"
        ).fetchone()
        return bool(row[0])
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()
