"""Fixtures for governance tests: an in-memory log, a loaded tool module, a request context."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.adapters.eventstore import InMemoryEventStore
from app.adapters.toolmodules import load_tool_modules
from app.ids import new_request_id
from app.ports.request_context import RequestContext, current_request
from app.services.recorder import RequestRecorder
from app.services.tools import ToolManager
from domain.events import Event, request_stream
from domain.policy import Principal
from domain.ports import EventStore
from domain.upcasting import decode

TOOLS_MODULE = '''
"""Test tools: one of each way a tool can behave."""
import asyncio
import threading

from app.ports.request_context import current_request
from app.dropin import gateway_tool

RELEASE = threading.Event()


@gateway_tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


@gateway_tool(name="search_docs", description="Search the docs.")
async def search(query: str, limit: int = 3) -> dict:
    return {"query": query, "limit": limit, "hits": []}


@gateway_tool
def explode(reason: str = "boom") -> str:
    """Always fails."""
    raise ValueError(reason)


@gateway_tool(timeout=0.2)
async def hang() -> str:
    """Never answers."""
    await asyncio.sleep(3600)
    return "never"


@gateway_tool(timeout=0.2)
def hang_sync() -> str:
    """Blocks its thread until released."""
    RELEASE.wait(60)
    return "late"


@gateway_tool
def weird() -> object:
    """Returns something JSON cannot hold."""
    return object()


@gateway_tool
def huge() -> str:
    """Returns too much."""
    return "x" * 100_000


@gateway_tool
def whoami() -> dict:
    """The request this (sync, threaded) tool runs for."""
    ctx = current_request.get()
    return {"request_id": ctx.request_id if ctx else None}


@gateway_tool
def quit_process() -> str:
    """Tries to stop the process."""
    raise SystemExit(3)
'''

USER = Principal(key_id="key_user", name="user", agents=("*",), tools=("add", "search_*"))


@pytest.fixture
async def store() -> AsyncIterator[EventStore]:
    s = await InMemoryEventStore.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def tool_dir(tmp_path: Path) -> Path:
    root = tmp_path / "tools"
    root.mkdir()
    (root / "testtools.py").write_text(textwrap.dedent(TOOLS_MODULE))
    return root


@pytest.fixture
def manager(tool_dir: Path) -> Iterator[ToolManager]:
    loaded, failed = load_tool_modules([str(tool_dir)])
    assert failed == []
    tools = ToolManager(timeout_s=5.0, result_max_bytes=1000)
    tools.replace(loaded)
    try:
        yield tools
    finally:
        for _spec, fn in loaded:
            release = getattr(fn, "__globals__", {}).get("RELEASE")
            if release is not None:
                release.set()  # free a thread a hung sync tool still holds
        tools.close()


@dataclass
class Request:
    ctx: RequestContext
    store: EventStore

    async def events(self) -> list[Event]:
        await self.ctx.recorder.flush()
        stored = await self.store.read_stream(request_stream(self.ctx.request_id))
        return [decode(e.type, e.schema_version, e.data) for e in stored]

    async def types(self) -> list[str]:
        return [e.TYPE for e in await self.events()]


@contextmanager
def serving(
    store: EventStore,
    tools: ToolManager,
    principal: Principal = USER,
    agent: str = "helper",
    agent_tools: tuple[str, ...] = ("*",),
) -> Iterator[Request]:
    """Set the per-request context, as the chat service does for one request."""
    request_id = new_request_id()
    ctx = RequestContext(
        request_id=request_id,
        principal=principal,
        recorder=RequestRecorder(store, request_id),
        agent=agent,
        agent_tools=agent_tools,
        tool_manager=tools,
    )
    token = current_request.set(ctx)
    try:
        yield Request(ctx, store)
    finally:
        current_request.reset(token)


def by_type(events: list[Event], event_type: type[Any]) -> Any:
    [found] = [e for e in events if isinstance(e, event_type)]
    return found
