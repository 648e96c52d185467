"""The projection runner: tails the log and keeps every read model and its checkpoint in step.

One reader feeds all projections (the next page is read while one is applied). A page is
dispatched to the handlers and written with the checkpoints in one transaction, on the runner's
own database thread (one hop per page; the event loop only waits). The transaction's first
statement compare-and-sets every checkpoint, so a crash between apply and commit loses the
page's work (and redoes it) but never counts twice. While serving, catch-ups are coalesced: at
most one per ``coalesce_s`` unless ``coalesce_events`` are pending or a ``wait_for`` caller
needs a position the read models have not reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.ports import EventStore, RecordedEvent
from projections.base import Projection
from projections.checkpoints import (
    Checkpoint,
    CheckpointConflict,
    ensure_live,
    now,
    read_checkpoints,
)
from projections.db import RawDb, raw_opener, write_connection
from projections.page import PageWrite, handler_tables
from projections.registry import make_projections

log = logging.getLogger("ledgergate.projections")

CATCH_UP_PAGE = 10_000
COALESCE_S = 0.1
"""While serving, catch up at most this often (a ``wait_for`` caller is served at once)."""
COALESCE_EVENTS = 1_000
"""…or as soon as this many events are pending (checked every ``POLL_S``)."""
POLL_S = 0.02


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
        coalesce_s: float = COALESCE_S,
        coalesce_events: int = COALESCE_EVENTS,
    ) -> None:
        self.store = store
        self.engine = engine
        self.projections = list(projections) if projections is not None else make_projections()
        self.page_size = page_size
        self.coalesce_s = coalesce_s
        self.coalesce_events = coalesce_events
        self.checkpoints: dict[str, Checkpoint] = dict(checkpoints or {})
        self._pinned = checkpoints is not None
        self._db: RawDb | None = None
        self._tables = handler_tables(self.projections)
        self._tick = asyncio.Event()
        self._wanted = 0  # the highest position a wait_for caller is waiting for
        self._urgent = asyncio.Event()
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
        conn: AsyncConnection = await write_connection(self.engine)
        try:
            async with conn.begin():
                if self._pinned:
                    stored = {(c.name, c.generation): c for c in await read_checkpoints(conn)}
                    self.checkpoints = {
                        name: stored[(c.name, c.generation)] for name, c in self.checkpoints.items()
                    }
                else:
                    names = [p.name for p in self.projections]
                    self.checkpoints = await ensure_live(conn, names)
        finally:
            await conn.close()
        self._notify()

    async def catch_up(self, until: int | None = None) -> int:
        """Apply pages until the position reaches ``until`` (default: until the log's end).

        The next page is read (on the store's reader thread) while this one is applied. Without
        ``until`` a page shorter than asked ends it, so a small catch-up reads the log once.
        """
        if not self.checkpoints:
            await self.load()
        ahead: asyncio.Task[list[RecordedEvent]] | None = None
        asked = 0
        try:
            while until is None or self.position < until:
                if ahead is None:
                    asked = self._limit(self.position, until)
                    ahead = asyncio.ensure_future(self._read(self.position, asked))
                page = await ahead
                ahead = None
                if not page:
                    break
                last = page[-1].position
                more = len(page) == asked and (until is None or last < until)
                if more:
                    asked = self._limit(last, until)
                    ahead = asyncio.ensure_future(self._read(last, asked))
                if not await self.apply(page) and ahead is not None:
                    ahead.cancel()  # checkpoints moved: read again from the new position
                    ahead = None
                if not more and self.position >= last:
                    break
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ahead
        return self.position

    def _limit(self, after: int, until: int | None) -> int:
        return self.page_size if until is None else min(self.page_size, until - after)

    async def _read(self, after: int, limit: int) -> list[RecordedEvent]:
        return await self.store.read_all(after, limit)

    async def run(self) -> None:
        """Follow the log forever: catch up, wait for enough new events, catch up again."""
        delay = 0.5
        while True:
            try:
                await self.load()
                while True:
                    await self.catch_up()
                    self.error = None
                    delay = 0.5
                    await self._next_batch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep serving; the lag and error show in status
                self.error = f"{type(exc).__name__}: {exc}"
                log.exception("projection runner failed; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _next_batch(self) -> None:
        """Return when a catch-up is due: new events and (a waiter, a full batch, or time).

        Each catch-up has a fixed cost (reads, a transaction) that dominates when a client
        commits a few events at a time, so one catch-up takes up what a window brought.
        """
        while not await self.store.wait_for(self.position + 1, timeout=5.0):
            pass
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.coalesce_s
        while self._wanted <= self.position:
            left = deadline - loop.time()
            if left <= 0:
                return
            self._urgent.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), min(left, POLL_S))
                continue
            if await self.store.head() - self.position >= self.coalesce_events:
                return

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name="projection-runner")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def wait_for(
        self, position: int, timeout: float | None = None, *, urgent: bool = True
    ) -> bool:
        """Wait until every model has applied the log up to ``position``; False on timeout.

        ``urgent`` (the default) makes a serving runner catch up now rather than at the end
        of its coalescing window.
        """
        if urgent and position > self.position:
            self._wanted = max(self._wanted, position)
            self._urgent.set()

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
        moving = [self.checkpoints[p.name] for members in groups.values() for p in members]
        job = PageWrite(page, groups, moving, self._tables, now())
        seam = self.before_commit
        db = self._database()
        try:
            # Shielded: if we are cancelled, the job still ends on its thread (committed or
            # rolled back, buffers reset) and the compare-and-set sorts out what it left.
            await asyncio.shield(db.run(lambda c: job.write(c, commit=seam is None)))
            if seam is not None:
                try:
                    await seam()
                except BaseException:
                    await asyncio.shield(db.run(lambda c: job.end(c, commit=False)))
                    raise
                await asyncio.shield(db.run(lambda c: job.end(c, commit=True)))
        except asyncio.CancelledError:
            if seam is not None:  # the write may have left its transaction open: close it
                await asyncio.shield(db.run(lambda c: job.end(c, commit=False)))
            raise
        except CheckpointConflict:
            log.info("projection checkpoint moved; reloading")
            await self.load()
            return False
        for checkpoint in moving:
            self.checkpoints[checkpoint.name] = msgspec.structs.replace(
                checkpoint, position=last, updated_at=job.stamp
            )
        self.last_progress = job.stamp
        self._notify()
        return True

    def _notify(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    def _database(self) -> RawDb:
        if self._db is None:
            self._db = RawDb(raw_opener(self.engine))
        return self._db
