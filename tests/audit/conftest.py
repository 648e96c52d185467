"""Fixtures: a real SQLite log (migrated by alembic), its audit tree, and a signing service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.adapters.audit_key import Signer, load_or_create
from app.adapters.eventstore import open_event_store
from app.ids import uuid7
from app.services.audit import AuditService
from app.settings import Settings
from domain.ports import EventStore, NewEvent
from projections.audit_tree import AuditTree
from projections.db import create_read_model_engine

ORIGIN = "test.example/log"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[EventStore]:
    s = await open_event_store(Settings(database_url=db_url))
    yield s
    await s.close()


@pytest.fixture
async def engine(store: EventStore, db_url: str) -> AsyncIterator[AsyncEngine]:
    e = create_read_model_engine(db_url)
    yield e
    await e.dispose()


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return load_or_create(tmp_path / "audit.key", ORIGIN)


@pytest.fixture
async def tree(store: EventStore, engine: AsyncEngine) -> AuditTree:
    t = AuditTree(store, engine, page_size=37)
    await t.load()
    return t


@pytest.fixture
async def audit(store: EventStore, tree: AuditTree, signer: Signer) -> AuditService:
    return AuditService(store, tree, signer, interval_s=0)


async def append_requests(store: EventStore, count: int, per_request: int = 3) -> list[str]:
    """``count`` small requests, their events interleaved in the log; returns their ids."""
    ids = [f"chatcmpl-{i}" for i in range(count)]
    for step in range(per_request):
        for rid in ids:
            data = b'{"request_id":"%s","seq":%d}' % (rid.encode(), step)
            await store.append(f"request:{rid}", [NewEvent(uuid7(), "stream.delta", 1, data)])
    return ids
