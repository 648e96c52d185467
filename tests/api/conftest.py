"""Helpers for the chat-completions end-to-end tests: reading one request's events from the log."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from domain.events import TERMINAL_REQUEST_TYPES
from domain.ports import RecordedEvent
from tests.support.live_server import LiveGateway

SAMPLE_TOOLS = str(Path(__file__).resolve().parents[2] / "src" / "tools")


def events_of(gw: LiveGateway, request_id: str) -> list[RecordedEvent]:
    return gw.call(gw.services.store.read_stream, f"request:{request_id}")


def types_of(events: list[RecordedEvent]) -> list[str]:
    return [e.type for e in events]


def data(event: RecordedEvent) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(event.data)
    return decoded


def wait_for_terminal(
    gw: LiveGateway, request_id: str, timeout: float = 10.0
) -> list[RecordedEvent]:
    """The request's events once its terminal event is in the log (waits on the log head)."""
    store = gw.services.store
    deadline = time.monotonic() + timeout
    while True:
        events = events_of(gw, request_id)
        if any(e.type in TERMINAL_REQUEST_TYPES for e in events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"no terminal event for {request_id}: {types_of(events)}")
        head = gw.call(store.head)
        gw.call(store.wait_for, head + 1, 1.0)


def all_events(gw: LiveGateway) -> list[RecordedEvent]:
    return gw.call(gw.services.store.read_all, 0, 100_000)


def issue_key(gw: LiveGateway, name: str, **rights: Any) -> tuple[str, str]:
    """A new key's (secret, key id)."""
    secret, info = gw.call(lambda: gw.services.keys.issue(name, **rights))
    return secret, info.id


def write_agent(root: Path, name: str, toml: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.toml").write_text(toml)
    return root


@pytest.fixture
def agent_gateway(
    gateway_factory: Callable[..., LiveGateway], tmp_path: Path
) -> Callable[..., LiveGateway]:
    """``agent_gateway(toml, name="helper", **settings)``: a gateway serving one declarative agent
    with the sample gateway tools (``get_time``, ``word_count``)."""

    def make(toml: str, name: str = "helper", **overrides: Any) -> LiveGateway:
        root = write_agent(tmp_path / f"agents-{name}", name, toml)
        overrides.setdefault("tools_dirs", [SAMPLE_TOOLS])
        return gateway_factory(agents_dirs=[str(root)], **overrides)

    return make
