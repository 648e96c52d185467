"""One log page applied on the runner's database thread: dispatch, checkpoints, flush, commit."""

from __future__ import annotations

import contextlib
import logging
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import msgspec

from domain.ports import RecordedEvent
from domain.upcasting import UnknownEventType, decode
from projections.base import Handler, Projection, decoded_types
from projections.checkpoints import Checkpoint, advance
from projections.db import Db

Tables = dict[str, tuple[dict[str, Handler], set[str]]]
"""Projection name → (its handlers by event type, the types it needs decoded)."""

log = logging.getLogger("ledgergate.projections")


def handler_tables(projections: Sequence[Projection]) -> Tables:
    """Built once per runner: ``handlers()`` returns bound methods, stable for its lifetime."""
    return {p.name: (p.handlers(), decoded_types(p)) for p in projections}


class PageWrite:
    """A page for ``groups`` (checkpoint position → projections there), moving them to ``last``.

    ``write`` and ``end`` run on the database thread; the projections' buffers are touched only
    there, and are reset whatever happens (commit, rollback, error).
    """

    def __init__(
        self,
        page: list[RecordedEvent],
        groups: dict[int, list[Projection]],
        moving: list[Checkpoint],
        tables: Tables,
        stamp: str,
    ) -> None:
        self.page = page
        self.groups = groups
        self.moving = moving
        self.tables = tables
        self.stamp = stamp
        self.active = [p for members in groups.values() for p in members]

    def write(self, db: Db, *, commit: bool) -> None:
        """Dispatch, BEGIN IMMEDIATE, compare-and-set the checkpoints, flush; COMMIT if asked.

        Raises CheckpointConflict (rolled back) when a stored checkpoint moved under us.
        """
        page = self.page
        began = False
        try:
            for at, members in self.groups.items():
                start = 0
                if at >= page[0].position:
                    start = bisect_right([r.position for r in page], at)
                self._dispatch(page[start:] if start else page, members)
            db.execute("BEGIN IMMEDIATE")  # after dispatch: the write lock is held briefly
            began = True
            advance(db, self.moving, page[-1].position, self.stamp)
            generations = {c.name: c.generation for c in self.moving}
            for projection in self.active:
                if projection.dirty():  # one that saw nothing writes nothing
                    projection.flush(db, generations[projection.name])
        except BaseException:
            if began:
                db.execute("ROLLBACK")
            self._reset()
            raise
        if commit:
            self.end(db, commit=True)

    def end(self, db: Db, *, commit: bool) -> None:
        """COMMIT (or ROLLBACK) the transaction ``write`` left open, if it still is."""
        if not db.in_transaction:  # write failed (and rolled back), or end already ran
            self._reset()
            return
        try:
            db.execute("COMMIT" if commit else "ROLLBACK")
        except BaseException:
            with contextlib.suppress(Exception):
                db.execute("ROLLBACK")
            raise
        finally:
            self._reset()

    def _reset(self) -> None:
        for projection in self.active:
            projection.reset()

    def _dispatch(self, events: list[RecordedEvent], projections: list[Projection]) -> None:
        table: dict[str, list[Handler]] = {}
        decode_types: set[str] = set()
        for projection in projections:
            projection.page(events)
            handlers, decoded = self.tables[projection.name]
            for event_type, handler in handlers.items():
                table.setdefault(event_type, []).append(handler)
            decode_types |= decoded
        for rec in events:
            found = table.get(rec.type)
            if found is None:
                continue
            payload: Any = None
            if rec.type in decode_types:
                try:
                    payload = decode(rec.type, rec.schema_version, rec.data)
                except (msgspec.DecodeError, UnknownEventType) as exc:
                    # A row the gateway did not write (``events verify`` names it): the read
                    # models skip it rather than stop at it for good.
                    log.warning(
                        "skipping the undecodable event at position %d: %s", rec.position, exc
                    )
                    continue
            for handler in found:
                handler(rec, payload)
