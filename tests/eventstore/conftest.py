"""Fixtures: every contract test runs against the SQLite, PostgreSQL and in-memory stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.adapters.eventstore import open_event_store
from app.ids import uuid7
from app.settings import Settings
from domain.ports import EventStore, NewEvent


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"


@pytest.fixture(params=["sqlite", "memory", "postgres"])
async def store(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[EventStore]:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = db_url if request.param == "sqlite" else "memory://"
    s = await open_event_store(Settings(database_url=url))
    yield s
    await s.close()


def delta(seq: int, text: str = "hello ", event_id: str | None = None) -> NewEvent:
    """A realistic ``stream.delta`` event."""
    data = b'{"seq":%d,"delta":{"content":"%s"}}' % (seq, text.encode())
    return NewEvent(event_id or uuid7(), "stream.delta", 1, data, b'{"request_id":"r"}')
