"""The projection runner: tails the log and keeps every read model and its checkpoint in step.

One reader feeds all projections (the next page is read while one is applied). Each page is
applied in memory, then written with the checkpoints in one transaction whose first statements
compare-and-set every checkpoint, so a crash between apply and commit loses the page's work (and
redoes it) but never counts twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.ports import EventStore, RecordedEvent
from domain.upcasting import decode
from projections.base import Handler, Projection, decoded_types
from projections.checkpoints import (
    Checkpoint,
    CheckpointConflict,
    advance,
    ensure_live,
    now,
    read_checkpoints,
)
from projections.db import write_connection
from projections.registry import make_projections

log = logging.getLogger("ledgergate.projections")

CATCH_UP_PAGE = 10_000


class ProjectionRunner:
    """Applies log pages to ``projections``; by default the live generation of every model.

    ``checkpoints`` pins explicit (``building``) generations instead: that is how a rebuild
    replays into fresh rows while the live runner keeps serving the old ones.
    """

    def __init__(
        self,
        store: EventStore,
        engine: AsyncEngine,
        projections: Sequence[Projection] | None = None,
        *,
        page_size: int = CATCH_UP_PAGE,
        checkpoints: dict[str, Checkpoint] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.projections = list(projections) if projections is not None else make_projections()
        self.page_size = page_size
        self.checkpoints: dict[str, Checkpoint] = dict(checkpoints or {})
        self._pinned = checkpoints is not None
        self._conn: AsyncConnection | None = None
        self._tick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_progress: str | None = None
        self.error: str | None = None
        self.before_commit: Callable[[], Awaitable[None]] | None = None
        """Test seam: awaited after the page's writes, before COMMIT."""

    @property
    def position(self) -> int:
        """The lowest checkpoint: every model has applied the log up to here."""
        return min((c.position for c in self.checkpoints.values()), default=0)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def load(self) -> None:
        """(Re)read the checkpoints; create live generations for models seen the first time."""
        conn = await self._connection()
        async with conn.begin():
            if self._pinned:
                stored = {(c.name, c.generation): c for c in await read_checkpoints(conn)}
                self.checkpoints = {
                    name: stored[(c.name, c.generation)] for name, c in self.checkpoints.items()
                }
            else:
                names = [p.name for p in self.projections]
                self.checkpoints = await ensure_live(conn, names)
        self._notify()

    async def catch_up(self, until: int | None = None) -> int:
        """Apply pages until the position reaches ``until`` (default: the head right now).

        The next page is read (on the store's reader thread) while this one is applied.
        """
        if not self.checkpoints:
            await self.load()
        target = await self.store.head() if until is None else until
        ahead: asyncio.Task[list[RecordedEvent]] | None = None
        try:
            while self.position < target:
                if ahead is None:
                    ahead = asyncio.ensure_future(self._read(self.position, target))
                page = await ahead
                ahead = None
                if not page:
                    break
                if page[-1].position < target:
                    ahead = asyncio.ensure_future(self._read(page[-1].position, target))
                if not await self.apply(page) and ahead is not None:
                    ahead.cancel()  # checkpoints moved: read again from the new position
                    ahead = None
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ahead
        return self.position

    async def _read(self, after: int, target: int) -> list[RecordedEvent]:
        return await self.store.read_all(after, min(self.page_size, target - after))

    async def run(self) -> None:
        """Follow the log forever: catch up, wait for the next commit, catch up again."""
        delay = 0.5
        while True:
            try:
                await self.load()
                while True:
                    await self.catch_up()
                    self.error = None
                    delay = 0.5
                    await self.store.wait_for(self.position + 1, timeout=5.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep serving; the lag and error show in status
                self.error = f"{type(exc).__name__}: {exc}"
                log.exception("projection runner failed; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name="projection-runner")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Wait until every model has applied the log up to ``position``; False on timeout."""

        async def reached() -> None:
            while self.position < position:
                tick = self._tick
                await tick.wait()

        try:
            await asyncio.wait_for(reached(), timeout)
        except TimeoutError:
            return False
        return True

    async def apply(self, page: list[RecordedEvent]) -> bool:
        """Apply one page and commit it; False if a checkpoint conflict made us reload."""
        if not page:
            return True
        last = page[-1].position
        groups: dict[int, list[Projection]] = {}
        for projection in self.projections:
            at = self.checkpoints[projection.name].position
            if at < last:
                groups.setdefault(at, []).append(projection)
        if not groups:
            return True
        active = [p for members in groups.values() for p in members]
        try:
            for at, members in groups.items():
                start = 0
                if at >= page[0].position:
                    start = bisect_right([r.position for r in page], at)
                _dispatch(page, start, members)
            await self._commit(active, last)
        except CheckpointConflict:
            log.info("projection checkpoint moved; reloading")
            await self.load()
            return False
        finally:
            for projection in active:
                projection.reset()
        return True

    async def _commit(self, active: list[Projection], last: int) -> None:
        conn = await self._connection()
        stamp = now()
        async with conn.begin():
            for projection in active:
                await advance(conn, self.checkpoints[projection.name], last, stamp)
            for projection in active:
                await projection.flush(conn, self.checkpoints[projection.name].generation)
            if self.before_commit is not None:
                await self.before_commit()
        for projection in active:
            old = self.checkpoints[projection.name]
            self.checkpoints[projection.name] = msgspec.structs.replace(
                old, position=last, updated_at=stamp
            )
        self.last_progress = stamp
        self._notify()

    def _notify(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            self._conn = await write_connection(self.engine)
        return self._conn


def _dispatch(page: list[RecordedEvent], start: int, projections: list[Projection]) -> None:
    events = page[start:] if start else page
    table: dict[str, list[Handler]] = {}
    decode_types: set[str] = set()
    for projection in projections:
        projection.page(events)
        for event_type, handler in projection.handlers().items():
            table.setdefault(event_type, []).append(handler)
        decode_types |= decoded_types(projection)
    for rec in [r for r in events if r.type in table]:
        payload: Any = None
        if rec.type in decode_types:
            payload = decode(rec.type, rec.schema_version, rec.data)
        for handler in table[rec.type]:
            handler(rec, payload)
