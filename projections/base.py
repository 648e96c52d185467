"""The projection base class: handlers per event type, a page buffer, one flush per page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from sqlalchemy import Table

from domain.events import Event
from domain.ports import RecordedEvent
from projections.db import Db, upsert, write_rows
from projections.schema import rm_names

Handler = Callable[[RecordedEvent, Any], None]
"""Called with the recorded event and its decoded payload (None for raw-only types)."""

REQUEST_PREFIX = "request:"


class Projection:
    """One read model. Subclasses set ``name``/``tables`` and map event types to handlers.

    Handlers only buffer into memory; ``flush`` writes the page's buffer inside the runner's
    transaction (the one that also moves the checkpoint), then the buffer is reset. Handlers,
    ``flush`` and ``reset`` run on the runner's database thread, never on the event loop.
    """

    name: ClassVar[str] = ""
    tables: ClassVar[tuple[Table, ...]] = ()
    raw_types: ClassVar[frozenset[str]] = frozenset()
    """Types whose handlers need only the envelope, so the runner skips decoding for them."""

    def __init__(self) -> None:
        self.names: dict[tuple[str, str], int] = {}
        self.reset()

    def handlers(self) -> dict[str, Handler]:
        """Event type → handler."""
        return {}

    def page(self, events: Sequence[RecordedEvent]) -> None:
        """Called once per page with every event past the checkpoint, before the handlers.

        For work that needs only envelopes and is cheaper done in bulk (counting by type).
        """

    def reset(self) -> None:
        """Drop the page buffer (after a flush, or when a transaction is rolled back)."""
        self.names = {}

    def saw_name(self, kind: str, name: str, position: int) -> None:
        """Note a label value; the lowest position wins (handlers may run out of log order)."""
        key = (kind, name)
        if position < self.names.get(key, position + 1):
            self.names[key] = position

    def dirty(self) -> bool:
        """Whether the page buffered anything to write (a clean projection is not flushed)."""
        return bool(self.names)

    def flush(self, db: Db, generation: int) -> None:
        """Write the buffered page under ``generation``."""
        self.flush_names(db, generation)

    def flush_names(self, db: Db, generation: int) -> None:
        rows = [
            {"generation": generation, "kind": k, "name": n, "first_position": p}
            for (k, n), p in self.names.items()
        ]
        write_rows(db, upsert(rm_names), rows)


def decoded_types(projection: Projection) -> set[str]:
    return set(projection.handlers()) - projection.raw_types


def request_id_of(rec: RecordedEvent, event: Event | None = None) -> str:
    """The request an event belongs to: its stream ``request:<id>``, else its ``request_id``."""
    if rec.stream.startswith(REQUEST_PREFIX):
        return rec.stream[len(REQUEST_PREFIX) :]
    return str(getattr(event, "request_id", "") or "")


def minute(recorded_at: str) -> str:
    """The UTC minute bucket of an RFC 3339 time: ``YYYY-MM-DDTHH:MM``."""
    return recorded_at[:16]
