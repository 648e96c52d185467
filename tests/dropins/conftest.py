"""Fixtures for the drop-in tests: an in-memory log, a discovery over fixture roots."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.adapters.discovery.scanner import Discovery
from app.adapters.eventstore.memory import InMemoryEventStore
from app.services.agents import AgentRegistry
from app.services.tools import ToolManager
from app.settings import Settings
from domain.upcasting import decode
from tests.dropins.fake_chat import FakeChat

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dropins"


@pytest.fixture
async def store() -> AsyncIterator[InMemoryEventStore]:
    store = await InMemoryEventStore.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def fake_chat() -> FakeChat:
    return FakeChat()


@pytest.fixture
async def make_discovery(
    store: InMemoryEventStore, fake_chat: FakeChat, tmp_path: Path
) -> AsyncIterator[Callable[..., Discovery]]:
    made: list[Discovery] = []

    def make(*roots: Path | str, tools_dirs: tuple[str, ...] = (), **overrides: Any) -> Discovery:
        settings = msgspec.convert(
            {
                "agents_dirs": [str(r) for r in roots],
                "tools_dirs": list(tools_dirs) or [str(tmp_path / "no-tools")],
                "watch_dropins": False,
                **overrides,
            },
            Settings,
        )
        discovery = Discovery(
            settings=settings,
            store=store,
            registry=AgentRegistry(),
            upstream=fake_chat.upstream(),
            tools=ToolManager(),
        )
        made.append(discovery)
        return discovery

    try:
        yield make
    finally:
        for discovery in made:  # their drop-ins' worker processes
            await discovery.close()


def copy_root(tmp_path: Path, *names: str, root: str = "good") -> Path:
    """A temp drop-in root holding copies of the named fixture drop-ins."""
    dest = tmp_path / "root"
    dest.mkdir(exist_ok=True)
    for name in names:
        shutil.copytree(FIXTURES / root / name, dest / name)
    return dest


async def discovery_events(store: InMemoryEventStore) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for rec in await store.read_all():
        if rec.stream == "discovery":
            event = decode(rec.type, rec.schema_version, rec.data)
            out.append((rec.type, msgspec.to_builtins(event)))
    return out
