"""The serving process's handle on the read models: their engine, the runner, and queries.

On SQLite every serving process runs the runner (compare-and-set checkpoints keep them from
counting twice). On PostgreSQL one node of the cluster runs it, the holder of the projection
lock (``projections.leader``); the others serve reads and follow its checkpoints, and try for
the lock every ``LEAD_POLL_S`` so that one of them takes over when the runner's node dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from domain.ports import EventStore
from projections import queries, snapshot
from projections.db import create_read_model_engine
from projections.leader import Leadership
from projections.runner import ProjectionRunner
from projections.schema import metadata
from projections.views import MetricsSnapshot, ProjectionStatus

MAX_WAIT_S = 5.0
LEAD_POLL_S = 0.25
"""How often a follower tries for the lock and reads the runner's checkpoints."""
log = logging.getLogger(__name__)


class ProjectionService:
    """Owns the read-model engine and (when ``run``) the runner that keeps them current."""

    def __init__(
        self,
        store: EventStore,
        engine: AsyncEngine,
        runner: ProjectionRunner | None,
        scratch: Path | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.runner = runner
        self._scratch = scratch
        self._leadership: Leadership | None = None
        self._leading: asyncio.Task[None] | None = None
        self._followed = 0  # the cluster runner's position, as a follower last read it
        self._followed_changed = asyncio.Event()

    @classmethod
    async def open(cls, settings: Settings, store: EventStore, *, run: bool) -> ProjectionService:
        """Read models live in the log's database (migrated by alembic with it).

        An in-memory log (``memory://``) gets a scratch SQLite file for its read models.
        """
        scratch = None
        url = settings.database_url
        if url.startswith("memory:"):
            scratch = Path(tempfile.mkdtemp(prefix="ledgergate-rm-"))
            url = f"sqlite+aiosqlite:///{scratch / 'read_models.db'}"
        engine = create_read_model_engine(url)
        if scratch is not None:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
        runner = ProjectionRunner(store, engine) if run else None
        service = cls(store, engine, runner, scratch)
        if runner is not None and engine.dialect.name == "postgresql":
            service._leadership = Leadership(engine)
            service._leading = asyncio.get_running_loop().create_task(service._lead(runner))
        elif runner is not None:
            runner.start()  # never blocks startup: failures retry and show in /readyz
        return service

    @property
    def leader(self) -> bool:
        """Whether this process runs the projections (always, except a PostgreSQL follower)."""
        return self._leadership is None or self._leadership.held

    async def _lead(self, runner: ProjectionRunner) -> None:
        """Run the projections while holding the cluster's lock; follow the holder otherwise."""
        assert self._leadership is not None
        leadership = self._leadership
        while True:
            try:
                if await leadership.try_acquire():
                    if not runner.running:
                        log.info("this node now runs the projections")
                        runner.start()
                else:
                    followed = await leadership.position()
                    if followed != self._followed:
                        self._followed = followed
                        changed, self._followed_changed = self._followed_changed, asyncio.Event()
                        changed.set()
            except Exception as exc:  # lost the database: stop running, try again
                log.warning("projection leadership: %s", exc)
                if runner.running:
                    await runner.stop()
            await asyncio.sleep(LEAD_POLL_S)

    async def close(self) -> None:
        if self._leading is not None:
            self._leading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._leading
        if self.runner is not None:
            await self.runner.stop()
        if self._leadership is not None:
            await self._leadership.release()
        await self.engine.dispose()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    async def settle(self, position: int | None) -> None:
        """Wait (bounded) until the read models have applied the log up to ``position``.

        Lets a caller read its own writes without sleeping; returns anyway after 5 s.
        """
        if position is None or self.runner is None:
            return
        target = min(position, await self.store.head())
        if self.runner.running:
            await self.runner.wait_for(target, MAX_WAIT_S)
        elif not self.leader:
            await self._follow(target)

    async def _follow(self, position: int) -> None:
        """A follower: wait (bounded) until the cluster's runner has reached ``position``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_WAIT_S
        while self._followed < position and loop.time() < deadline:
            changed = self._followed_changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), deadline - loop.time())

    async def read(self, sections: frozenset[str] | None = None) -> queries.ReadModels:
        return await queries.load(self.engine, sections)

    async def snapshot(self) -> MetricsSnapshot:
        models, head = await asyncio.gather(self.read(), self.store.head())
        return snapshot.metrics_snapshot(models, head, self.runner if self.leader else None)

    async def status(self) -> list[ProjectionStatus]:
        models, head = await asyncio.gather(self.read(frozenset()), self.store.head())
        return snapshot.statuses(models, head, self.runner if self.leader else None)

    def health(self) -> dict[str, Any]:
        """For ``/readyz``: is the runner alive, and where it is."""
        runner = self.runner
        if runner is None:
            return {"running": False, "enabled": False}
        if not self.leader:  # another node runs them; this one follows its checkpoints
            leading = self._leading is not None and not self._leading.done()
            return {
                "running": leading,
                "enabled": True,
                "leader": False,
                "position": self._followed,
            }
        return {
            "running": runner.running,
            "enabled": True,
            "leader": True,
            "position": runner.position,
            "last_progress": runner.last_progress,
            "error": runner.error,
        }
