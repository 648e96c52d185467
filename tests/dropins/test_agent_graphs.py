"""Handoff targets and agents used as tools, governed in both drop-in runtimes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from app.ports.request_context import RequestContext
from app.services.recorder import RequestRecorder
from domain.policy import Principal
from tests.dropins.conftest import FIXTURES
from tests.dropins.fake_chat import Reply
from tests.dropins.test_sdk_backend import request_events, run

RUNTIMES = ["worker", "inprocess"]


@pytest.fixture(params=RUNTIMES)
async def graphs(request: Any, make_discovery: Any) -> Any:
    discovery = make_discovery(FIXTURES / "graphs", dropin_runtime=request.param)
    await discovery.scan("startup")
    return discovery


def context(store: Any, discovery: Any, agent: str, *, also: tuple[str, ...] = ()) -> Any:
    """A request by a key allowed every tool, for the agent's loaded tools and ``also``."""
    entry = discovery.registry.get(agent)
    return RequestContext(
        request_id="chatcmpl-test",
        principal=Principal("key-1", "tester", tools=("*",), agents=("*",)),
        recorder=RequestRecorder(store, "chatcmpl-test"),
        agent=agent,
        agent_tools=(*entry.tools, *also),
        tool_manager=discovery.tools,
    )


def sent_text(fake_chat: Any) -> str:
    return msgspec.json.encode(fake_chat.requests).decode()


async def test_tools_behind_handoff_and_as_tool_run_governed(graphs, store, fake_chat):
    fake_chat.replies = [
        Reply(tool_calls=[("c1", "translate", '{"input":"hello"}')]),
        Reply(tool_calls=[("c2", "glossary", '{"term":"hello"}')]),  # the translator, nested
        Reply(text="bonjour"),
        Reply(tool_calls=[("c3", "transfer_to_billing", "{}")]),
        Reply(tool_calls=[("c4", "refund", '{"order_id":"42"}')]),
        Reply(text="Order 42 is refunded."),
    ]
    await run(graphs, context(store, graphs, "wrapped"), [{"role": "user", "content": "x"}])
    events = await request_events(store)
    invoked = [(e["tool"], e["source"]) for t, e in events if t == "tool.invoked"]
    assert invoked == [("translate", "sdk"), ("glossary", "sdk"), ("refund", "sdk")]
    assert "bonjour" in sent_text(fake_chat) and "order 42: refunded" in sent_text(fake_chat)
