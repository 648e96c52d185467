"""Handoff targets and agents used as tools: found by name at load, governed when they start.

The SDK's public API names the agent behind a ``handoff()`` or an ``as_tool()`` tool but does
not give it; the loader looks the name up among the drop-in's module-level agents, and the run
governs every agent that actually starts. Both drop-in runtimes, against the scripted upstream.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from app.errors import UpstreamError
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


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_targets_are_found_by_name_and_a_hidden_one_fails_the_load(make_discovery, runtime):
    discovery = make_discovery(FIXTURES / "graphs", dropin_runtime=runtime)
    report = await discovery.scan("startup")
    loaded = {e.name: e for e in discovery.registry.all()}
    # handoff(billing) and translator.as_tool(): their agents' tools are listed
    assert loaded["wrapped"].tools == ("glossary", "refund", "translate")
    # the loader only knows `helper` by name: the module-level one has no tools
    assert loaded["shadowed"].tools == ("ask_helper",)
    assert loaded["smuggled"].tools == () and loaded["late"].tools == ()
    failed = {f.name: f for f in report.failed}
    assert set(failed) == {"hidden"}
    assert failed["hidden"].error_type == "hidden_agent"
    assert "'inner'" in failed["hidden"].message
    assert "module-level Agent" in failed["hidden"].remediation


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


async def test_an_agent_the_loader_could_not_see_is_governed_when_it_starts(
    graphs, store, fake_chat
):
    """open_vault, allowed here, runs as a governed ``sdk`` tool in both agents named helper."""
    fake_chat.replies = [
        Reply(tool_calls=[("c1", "ask_helper", '{"input":"the crown"}')]),
        Reply(tool_calls=[("c2", "open_vault", '{"item":"crown"}')]),  # nested run
        Reply(text="It holds gold."),
        Reply(tool_calls=[("c3", "transfer_to_helper", "{}")]),
        Reply(tool_calls=[("c4", "open_vault", '{"item":"ring"}')]),  # the handoff target
        Reply(text="Gold too."),
    ]
    ctx = context(store, graphs, "shadowed", also=("open_vault",))
    await run(graphs, ctx, [{"role": "user", "content": "x"}])
    events = await request_events(store)
    invoked = [(e["tool"], e["source"], e["call_id"]) for t, e in events if t == "tool.invoked"]
    assert invoked == [
        ("ask_helper", "sdk", "c1"),
        ("open_vault", "sdk", "c2"),
        ("open_vault", "sdk", "c4"),
    ]
    acl = [(e["resource"], e["decision"]) for t, e in events if t == "acl.decided"]
    assert acl == [("ask_helper", "allow"), ("open_vault", "allow"), ("open_vault", "allow")]
    assert "the crown: gold" in sent_text(fake_chat) and "the ring: gold" in sent_text(fake_chat)


async def test_a_tool_missing_from_the_listing_is_denied_and_never_runs(graphs, store, fake_chat):
    """The agent's loaded tool list applies: what admins were not shown does not run."""
    fake_chat.replies = [
        Reply(tool_calls=[("c1", "ask_helper", '{"input":"the crown"}')]),
        Reply(tool_calls=[("c2", "open_vault", '{"item":"crown"}')]),
        Reply(text="I may not."),
        Reply(tool_calls=[("c3", "transfer_to_helper", "{}")]),
        Reply(tool_calls=[("c4", "open_vault", '{"item":"ring"}')]),
        Reply(text="Refused."),
    ]
    await run(graphs, context(store, graphs, "shadowed"), [{"role": "user", "content": "x"}])
    events = await request_events(store)
    acl = [(e["resource"], e["decision"], e["rule"]) for t, e in events if t == "acl.decided"]
    assert acl[1:] == [("open_vault", "deny", "agent.tools"), ("open_vault", "deny", "agent.tools")]
    failed = [(e["call_id"], e["outcome"]) for t, e in events if t == "tool.failed"]
    assert failed == [("c2", "denied"), ("c4", "denied")]
    assert "gold" not in sent_text(fake_chat)


async def test_an_ungovernable_agent_reached_at_run_time_stops_the_run(graphs, store, fake_chat):
    fake_chat.replies = [
        Reply(tool_calls=[("c1", "transfer_to_coder", "{}")]),
        Reply(text="never asked for"),
    ]
    with pytest.raises(UpstreamError) as info:
        await run(graphs, context(store, graphs, "smuggled"), [{"role": "user", "content": "x"}])
    assert info.value.code == "ungovernable_tool"
    assert "CodeInterpreterTool" in info.value.message
    assert len(fake_chat.requests) == 1  # the coder's model was never called


async def test_a_tool_added_while_the_agent_runs_is_governed(graphs, store, fake_chat):
    fake_chat.replies = [
        Reply(tool_calls=[("c1", "open_vault", '{"item":"crown"}')]),
        Reply(text="Gold."),
    ]
    ctx = context(store, graphs, "late", also=("open_vault",))
    await run(graphs, ctx, [{"role": "user", "content": "x"}])
    events = await request_events(store)
    invoked = [(e["tool"], e["source"]) for t, e in events if t == "tool.invoked"]
    assert invoked == [("open_vault", "sdk")]
    assert "the crown: gold" in sent_text(fake_chat)
