"""The serving process's handle on the read models: their engine, the runner, and queries."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from domain.ports import EventStore
from projections import queries, snapshot
from projections.db import create_read_model_engine
from projections.runner import ProjectionRunner
from projections.schema import metadata
from projections.views import MetricsSnapshot, ProjectionStatus

MAX_WAIT_S = 5.0


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
        if runner is not None:
            runner.start()  # never blocks startup: failures retry and show in /readyz
        return cls(store, engine, runner, scratch)

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
        await self.engine.dispose()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    async def settle(self, position: int | None) -> None:
        """Wait (bounded) until the read models have applied the log up to ``position``.

        Lets a caller read its own writes without sleeping; returns anyway after 5 s.
        """
        if position is None or self.runner is None or not self.runner.running:
            return
        await self.runner.wait_for(min(position, await self.store.head()), MAX_WAIT_S)

    async def read(self, sections: frozenset[str] | None = None) -> queries.ReadModels:
        return await queries.load(self.engine, sections)

    async def snapshot(self) -> MetricsSnapshot:
        models, head = await asyncio.gather(self.read(), self.store.head())
        return snapshot.metrics_snapshot(models, head, self.runner)

    async def status(self) -> list[ProjectionStatus]:
        models, head = await asyncio.gather(self.read(frozenset()), self.store.head())
        return snapshot.statuses(models, head, self.runner)

    def health(self) -> dict[str, Any]:
        """For ``/readyz``: is the runner alive, and where it is."""
        runner = self.runner
        if runner is None:
            return {"running": False, "enabled": False}
        return {
            "running": runner.running,
            "enabled": True,
            "position": runner.position,
            "last_progress": runner.last_progress,
            "error": runner.error,
        }
