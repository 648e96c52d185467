"""Client tools on an Agents SDK drop-in: a mixed turn (the agent's tool and the client's in one
model turn), what the gateway holds back, and the resumed run seeing a complete conversation."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import BadRequest
from app.ports.chat_backend import Finish, Held, ToolCallDelta, ToolNotice
from tests.dropins.conftest import FIXTURES
from tests.dropins.fake_chat import Reply
from tests.dropins.test_sdk_backend import context, request_events, run


@pytest.fixture
async def dropins(make_discovery: Any) -> Any:
    discovery = make_discovery(FIXTURES / "good")
    await discovery.scan("startup")
    return discovery


LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


async def test_a_mixed_turn_runs_the_agent_tool_and_answers_the_client_call(
    dropins: Any, store: Any, fake_chat: Any
) -> None:
    fake_chat.replies = [
        Reply(tool_calls=[("c1", "weather", '{"city":"Oslo"}'), ("c2", "lookup", '{"q":"x"}')]),
        Reply(text="Sunny; x found."),
    ]
    ctx = context(store, dropins, "tooly")
    user = {"role": "user", "content": "weather, and look x up"}
    deltas = await run(dropins, ctx, [user], tools=[LOOKUP], raw={"tools": [LOOKUP]})
    notices = [(d.name, d.status) for d in deltas if isinstance(d, ToolNotice)]
    assert notices == [("weather", "started"), ("weather", "completed")]
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    assert {c.name for c in calls if c.name} == {"lookup"} and all(c.client for c in calls)
    visible = next(c.id for c in calls if c.id)
    assert visible != "c2"  # an id that names the request
    assert deltas[-1] == Finish("tool_calls")
    (held,) = [d for d in deltas if isinstance(d, Held)]
    assistant = held.messages[0]
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["weather", "lookup"]
    assert [c["id"] for c in assistant["tool_calls"]] == ["c1", visible]
    assert held.messages[1:] == [{"role": "tool", "tool_call_id": "c1", "content": "sunny in Oslo"}]
    # The client's tool is the client's to run: never decided or run by the gateway.
    governed = [
        (t, e["resource" if t == "acl.decided" else "tool"])
        for t, e in await request_events(store)
        if t in ("acl.decided", "tool.invoked", "tool.failed")
    ]
    assert governed == [("acl.decided", "weather"), ("tool.invoked", "weather")]
    # The client answers its call; with the held messages put back the run resumes.
    resumed = [user, *held.messages, {"role": "tool", "tool_call_id": visible, "content": "found"}]
    deltas = await run(dropins, ctx, resumed, tools=[LOOKUP], raw={"tools": [LOOKUP]})
    assert deltas[-1] == Finish("stop")
    sent = fake_chat.requests[-1]["messages"]
    results = {m["tool_call_id"]: m["content"] for m in sent if m["role"] == "tool"}
    assert results == {"c1": "sunny in Oslo", visible: "found"}


async def test_an_agent_with_its_own_tool_use_behavior_refuses_client_tools_by_name(
    make_discovery: Any, store: Any, fake_chat: Any
) -> None:
    # The agent is changed in place below: only possible with the drop-in in this process.
    dropins = make_discovery(FIXTURES / "good", dropin_runtime="inprocess")
    await dropins.scan("startup")
    ctx = context(store, dropins, "tooly")
    entry = dropins.registry.get("tooly")
    agent = entry.backend.agent
    original = agent.tool_use_behavior
    agent.tool_use_behavior = "stop_on_first_tool"
    try:
        with pytest.raises(BadRequest, match="tooly") as err:
            await run(dropins, ctx, [{"role": "user", "content": "x"}], tools=[LOOKUP], raw={})
    finally:
        agent.tool_use_behavior = original
    assert err.value.code == "unsupported_parameter" and err.value.param == "tools"
