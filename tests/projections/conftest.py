"""Fixtures: an in-memory log and a fresh SQLite file holding the read models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.adapters.eventstore import InMemoryEventStore
from projections.db import create_read_model_engine
from projections.schema import metadata


@pytest.fixture
async def store() -> AsyncIterator[InMemoryEventStore]:
    s = await InMemoryEventStore.open()
    yield s
    await s.close()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    e = create_read_model_engine(f"sqlite+aiosqlite:///{tmp_path / 'rm.db'}")
    async with e.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield e
    await e.dispose()
