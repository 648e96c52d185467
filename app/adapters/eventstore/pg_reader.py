"""The PostgreSQL read side: the SQLite reader's keyset pages, on an autocommit connection.

Rows become ``RecordedEvent`` through the SQLite reader's conversion (same columns, same order);
only the SQL's placeholders and the event id's storage differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from app.adapters.eventstore.canonical import ZERO_HASH
from app.adapters.eventstore.pg_ids import pg_event_id_text
from app.adapters.eventstore.sqlite_reader import SqliteReader
from domain.ports import RecordedEvent

_COLUMNS = (
    "e.position, e.event_id, s.name, e.version, e.type_id, e.schema_version, e.recorded_at,"
    " e.data, e.meta, e.hash"
)
_FROM = " FROM events e JOIN event_streams s ON s.stream_id = e.stream_id"
_PREV = ", (SELECT p.hash FROM events p WHERE p.position = e.position - 1)"


class PostgresReader(SqliteReader):
    """One autocommit connection, ``pg`` (SQLite's ``conn`` is never opened); reader thread only."""

    def __init__(self, conninfo: str) -> None:  # no super(): no SQLite file to open
        self.pg = psycopg.connect(conninfo, autocommit=True)
        self._types: dict[int, str] = {}
        self._type_ids: dict[str, int] = {}

    def close(self) -> None:
        self.pg.close()

    def _load_types(self) -> None:
        for type_id, name in self.pg.execute("SELECT type_id, name FROM event_types"):
            self._types[type_id] = name
            self._type_ids[name] = type_id

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        rows = self.pg.execute(sql, params).fetchall()
        return [(r[0], pg_event_id_text(r[1]), *r[2:]) for r in rows]

    def head(self) -> int:
        row = self.pg.execute("SELECT position FROM event_log_head WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def chain_head(self) -> tuple[int, bytes] | None:
        row = self.pg.execute("SELECT position, hash FROM event_log_head WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row and row[0] else None

    def read_all(
        self, after: int, limit: int, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        after = max(after, 0)
        if types is None:
            rows = self._rows(
                f"SELECT {_COLUMNS}{_FROM} WHERE e.position > %s ORDER BY e.position LIMIT %s",
                (after, limit),
            )
            if not rows:
                return []
            prev = ZERO_HASH
            if rows[0][0] > 1:
                row = self.pg.execute(
                    "SELECT hash FROM events WHERE position = %s",
                    (rows[0][0] - 1,),
                ).fetchone()
                prev = row[0] if row else ZERO_HASH
            return self._convert(rows, prev)
        wanted = [t for t in types if t in self._type_ids]
        if len(wanted) != len(types):
            self._load_types()
            wanted = [t for t in types if t in self._type_ids]
        if not wanted:
            return []
        rows = self._rows(
            f"SELECT {_COLUMNS}{_PREV}{_FROM} WHERE e.type_id = ANY(%s) AND e.position > %s"
            " ORDER BY e.position LIMIT %s",
            ([self._type_ids[t] for t in wanted], after, limit),
        )
        return self._convert(rows, None)

    def read_stream(self, stream: str, after_version: int, limit: int) -> list[RecordedEvent]:
        rows = self._rows(
            f"SELECT {_COLUMNS}{_PREV}{_FROM} WHERE s.name = %s AND e.version > %s"
            " ORDER BY e.version LIMIT %s",
            (stream, max(after_version, 0), limit),
        )
        return self._convert(rows, None)
