"""The read side every SQL backend shares: keyset pages by position, by stream and by type.

Rows become ``RecordedEvent`` here: the event id back to its text, ``recorded_at`` to RFC 3339,
hashes to hex, and ``prev_hash`` from the previous position's row (it is not stored). A backend
says how to run a query (``_rows``), how its event ids read back, and how it writes a
placeholder and a "type is one of these" condition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.adapters.eventstore.canonical import ZERO_HASH, format_recorded_at
from domain.ports import RecordedEvent

_COLUMNS = (
    "e.position, e.event_id, s.name, e.version, e.type_id, e.schema_version, e.recorded_at,"
    " e.data, e.meta, e.hash"
)
_FROM = " FROM events e JOIN event_streams s ON s.stream_id = e.stream_id"
_PREV = ", (SELECT p.hash FROM events p WHERE p.position = e.position - 1)"


class LogReader:
    """Pages of the log over one connection; every method runs on the reader thread only."""

    ARG = "?"
    """The driver's placeholder."""
    _event_id: Callable[[Any], str]
    """An event id as the ``event_id`` column holds it, back to its text (a plain function)."""

    def __init__(self) -> None:
        self._types: dict[int, str] = {}
        self._type_ids: dict[str, int] = {}

    # --- to implement -------------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows of ``sql`` (with ``ARG`` placeholders), as tuples."""
        raise NotImplementedError

    def _type_is_one_of(self, type_ids: list[int]) -> tuple[str, list[Any]]:
        """A condition on ``e.type_id`` and its parameters."""
        raise NotImplementedError

    def head(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------------

    def chain_head(self) -> tuple[int, bytes] | None:
        rows = self._rows("SELECT position, hash FROM event_log_head WHERE id = 1", ())
        return (int(rows[0][0]), bytes(rows[0][1])) if rows and rows[0][0] else None

    def _load_types(self) -> None:
        for type_id, name in self._rows("SELECT type_id, name FROM event_types", ()):
            self._types[type_id] = name
            self._type_ids[name] = type_id

    def _convert(self, rows: list[Any], prev: bytes | None) -> list[RecordedEvent]:
        """Rows of ``_COLUMNS`` (+ prev hash if ``prev`` is None) into RecordedEvents."""
        types = self._types
        event_id = self._event_id  # a plain function: no bound method per row
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
            append(
                RecordedEvent(
                    row[0],
                    event_id(row[1]),
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
        after, arg = max(after, 0), self.ARG
        if types is None:
            rows = self._rows(
                f"SELECT {_COLUMNS}{_FROM} WHERE e.position > {arg} ORDER BY e.position"
                f" LIMIT {arg}",
                (after, limit),
            )
            if not rows:
                return []
            prev = ZERO_HASH
            if rows[0][0] > 1:
                before = self._rows(
                    f"SELECT hash FROM events WHERE position = {arg}", (rows[0][0] - 1,)
                )
                prev = before[0][0] if before else ZERO_HASH
            return self._convert(rows, prev)
        wanted = [t for t in types if t in self._type_ids]
        if len(wanted) != len(types):
            self._load_types()
            wanted = [t for t in types if t in self._type_ids]
        if not wanted:
            return []
        condition, params = self._type_is_one_of([self._type_ids[t] for t in wanted])
        rows = self._rows(
            f"SELECT {_COLUMNS}{_PREV}{_FROM} WHERE {condition} AND e.position > {arg}"
            f" ORDER BY e.position LIMIT {arg}",
            (*params, after, limit),
        )
        return self._convert(rows, None)

    def read_stream(self, stream: str, after_version: int, limit: int) -> list[RecordedEvent]:
        arg = self.ARG
        rows = self._rows(
            f"SELECT {_COLUMNS}{_PREV}{_FROM} WHERE s.name = {arg} AND e.version > {arg}"
            f" ORDER BY e.version LIMIT {arg}",
            (stream, max(after_version, 0), limit),
        )
        return self._convert(rows, None)
