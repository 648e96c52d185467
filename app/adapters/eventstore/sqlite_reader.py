"""The SQLite read side: ``reader``'s pages on a read-only connection of its own.

An event id is stored as 16 bytes or as its text (``event_ids``); the head is the last row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.adapters.eventstore.event_ids import event_id_text
from app.adapters.eventstore.reader import LogReader
from app.adapters.eventstore.sqlite_writer import connect


class SqliteReader(LogReader):
    """One read-only connection; every method runs on the reader thread only."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.conn = connect(path, "FULL", readonly=True)

    def close(self) -> None:
        self.conn.close()

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    _event_id = staticmethod(event_id_text)

    def _type_is_one_of(self, type_ids: list[int]) -> tuple[str, list[Any]]:
        return f"e.type_id IN ({','.join('?' * len(type_ids))})", list(type_ids)

    def head(self) -> int:
        row = self.conn.execute("SELECT max(position) FROM events").fetchone()
        return int(row[0] or 0)

    def read_hashes(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, 32-byte hash) of the events after ``after``: what the audit tree reads."""
        rows: list[tuple[int, bytes]] = self.conn.execute(
            "SELECT position, hash FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (max(after, 0), limit),
        ).fetchall()
        return rows


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
