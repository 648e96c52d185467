"""The SDK adapter against a scripted Chat Completions upstream: context, streaming, governance."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from app.errors import BadRequest, Unprocessable
from app.ports.chat_backend import ChatRequest, Finish, TextDelta, ToolCallDelta, ToolNotice, Usage
from app.ports.request_context import RequestContext
from app.services.recorder import RequestRecorder
from domain.policy import Principal
from domain.upcasting import decode
from tests.dropins.conftest import FIXTURES
from tests.dropins.fake_chat import Reply


def context(store: Any, discovery: Any, agent: str, *, tools: tuple[str, ...] = ("*",)) -> Any:
    entry = discovery.registry.get(agent)
    return RequestContext(
        request_id="chatcmpl-test",
        principal=Principal("key-1", "tester", tools=tools, agents=("*",)),
        recorder=RequestRecorder(store, "chatcmpl-test"),
        agent=agent,
        agent_tools=entry.tools,
        tool_manager=discovery.tools,
    )


async def run(discovery: Any, ctx: Any, messages: list[dict[str, Any]], **kw: Any) -> list[Any]:
    entry = discovery.registry.get(ctx.agent)
    request = ChatRequest(model=ctx.agent, messages=messages, stream=True, **kw)
    try:
        return [d async for d in entry.backend.run(request, ctx)]
    finally:  # as ChatRun does on every outcome: the recorder makes events durable on flush
        await ctx.recorder.flush()


async def request_events(store: Any) -> list[tuple[str, dict[str, Any]]]:
    recs = await store.read_stream("request:chatcmpl-test")
    return [(r.type, msgspec.to_builtins(decode(r.type, r.schema_version, r.data))) for r in recs]


@pytest.fixture
async def good(make_discovery):
    discovery = make_discovery(FIXTURES / "good")
    await discovery.scan("startup")
    return discovery


async def test_multi_turn_history_reaches_upstream_intact(good, store, fake_chat):
    fake_chat.replies = [Reply(text="Fine, thanks")]
    messages = [
        {"role": "system", "content": "Client system."},
        {"role": "user", "content": "Hi, I am Ada."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c0", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c0", "content": "ok"},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
    ]
    deltas = await run(good, context(store, good, "minimal"), messages, max_tokens=33)
    sent = fake_chat.requests[0]
    assert sent["messages"][0] == {"role": "system", "content": "You are the minimal test agent."}
    assert sent["messages"][1:] == [
        {"role": "system", "content": "Client system."},
        {"role": "user", "content": "Hi, I am Ada."},
        messages[2],
        {"role": "tool", "tool_call_id": "c0", "content": "ok"},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
    ]
    assert sent["max_tokens"] == 33
    assert sent["stream_options"] == {"include_usage": True}
    assert "".join(d.content for d in deltas if isinstance(d, TextDelta)) == "Fine, thanks"
    assert deltas[-2:] == [Usage(7, 3), Finish("stop")]
    types = [t for t, _ in await request_events(store)]
    assert types == ["upstream.call_started", "upstream.call_completed"]


async def test_tool_calls_stream_with_one_index_counter_and_are_governed(good, store, fake_chat):
    fake_chat.replies = [
        Reply(tool_calls=[("c1", "weather", '{"city":"Oslo"}')]),
        Reply(tool_calls=[("c2", "weather", '{"city":"Rome"}')]),
        Reply(text="Oslo and Rome are sunny."),
    ]
    ctx = context(store, good, "tooly")
    deltas = await run(good, ctx, [{"role": "user", "content": "weather?"}])
    # The agent's tools are the gateway's to run: notices, never the client's tool calls.
    assert not [d for d in deltas if isinstance(d, ToolCallDelta)]
    notices = [(d.id, d.name, d.arguments, d.status) for d in deltas if isinstance(d, ToolNotice)]
    assert notices == [
        ("c1", "weather", '{"city":"Oslo"}', "started"),
        ("c1", "weather", '{"city":"Oslo"}', "completed"),
        ("c2", "weather", '{"city":"Rome"}', "started"),
        ("c2", "weather", '{"city":"Rome"}', "completed"),
    ]
    outputs = [d.output for d in deltas if isinstance(d, ToolNotice) and d.output]
    assert outputs == ["sunny in Oslo", "sunny in Rome"]
    assert deltas[-1] == Finish("stop")
    # the tool's result went back to the upstream
    tool_msgs = [m for m in fake_chat.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_msgs == [{"role": "tool", "tool_call_id": "c1", "content": "sunny in Oslo"}]
    events = await request_events(store)
    invoked = [e for t, e in events if t == "tool.invoked"]
    assert [(e["tool"], e["source"], e["call_id"]) for e in invoked] == [
        ("weather", "sdk", "c1"),
        ("weather", "sdk", "c2"),
    ]
    acl = [e for t, e in events if t == "acl.decided"]
    assert [e["decision"] for e in acl] == ["allow", "allow"]
    hops = [e["hop"] for t, e in events if t == "upstream.call_completed"]
    assert hops == [1, 2, 3]


async def test_a_denied_tool_gives_the_model_a_refusal(good, store, fake_chat):
    fake_chat.replies = [
        Reply(tool_calls=[("c1", "secret_vault", '{"item":"crown"}')]),
        Reply(text="I may not open it."),
    ]
    ctx = context(store, good, "tooly", tools=("weather",))
    await run(good, ctx, [{"role": "user", "content": "open the vault"}])
    tool_msg = next(m for m in fake_chat.requests[1]["messages"] if m["role"] == "tool")
    assert "not allowed" in tool_msg["content"] and "secret_vault" in tool_msg["content"]
    events = await request_events(store)
    acl = [e for t, e in events if t == "acl.decided"]
    assert [(e["resource"], e["decision"]) for e in acl] == [("secret_vault", "deny")]
    failed = [e for t, e in events if t == "tool.failed"]
    assert failed[0]["outcome"] == "denied"


async def test_handoff_and_agent_as_tool_run_governed(good, store, fake_chat):
    fake_chat.replies = [
        Reply(tool_calls=[("c1", "translate", '{"input":"hello"}')]),
        Reply(text="bonjour"),  # the translator agent, run as a tool
        Reply(tool_calls=[("c2", "transfer_to_billing", "{}")]),
        Reply(tool_calls=[("c3", "lookup_order", '{"order_id":"42"}')]),
        Reply(text="Order 42 has shipped."),
    ]
    ctx = context(store, good, "triage")
    deltas = await run(good, ctx, [{"role": "user", "content": "translate, then my order"}])
    assert not [d for d in deltas if isinstance(d, ToolCallDelta)]
    started = [d.name for d in deltas if isinstance(d, ToolNotice) and d.status == "started"]
    assert started == ["translate", "transfer_to_billing", "lookup_order"]
    text = "".join(d.content for d in deltas if isinstance(d, TextDelta))
    assert text == "Order 42 has shipped."  # the nested agent's text is not the answer
    invoked = [e["tool"] for t, e in await request_events(store) if t == "tool.invoked"]
    assert invoked == ["translate", "lookup_order"]
    assert fake_chat.requests[3]["messages"][0]["content"] == "You handle billing."


async def test_sdk_errors_map_to_gateway_errors(make_discovery, store, fake_chat):
    discovery = make_discovery(FIXTURES / "good")
    discovery.settings = msgspec.structs.replace(discovery.settings, max_turns=1)
    await discovery.scan("startup")
    fake_chat.replies = [Reply(tool_calls=[("c1", "weather", '{"city":"Oslo"}')])]
    with pytest.raises(Unprocessable) as info:
        await run(discovery, context(store, discovery, "tooly"), [{"role": "user", "content": "x"}])
    assert info.value.code == "max_turns_exceeded"
    with pytest.raises(BadRequest):
        await run(discovery, context(store, discovery, "tooly"), [{"role": "wizard"}])


async def test_upstream_error_is_recorded_and_passed_through(good, store, fake_chat):
    fake_chat.replies = [Reply(text="bad model", status=400)]
    with pytest.raises(BadRequest):
        await run(good, context(store, good, "minimal"), [{"role": "user", "content": "x"}])
    await good.store.wait_for(await store.head())
    events = await request_events(store)
    failed = [e for t, e in events if t == "upstream.call_failed"]
    assert failed and failed[0]["status"] == 400


async def test_mcp_guardrail_applies_the_key_policy_and_logs_the_decision(store) -> None:
    from agents.agent import Agent
    from agents.tool_context import ToolContext
    from agents.tool_guardrails import ToolInputGuardrailData

    from app.adapters.sdk.govern import gateway_mcp_guardrail
    from app.ports.request_context import current_request

    ctx = RequestContext(
        request_id="chatcmpl-test",
        principal=Principal("key-1", "tester", tools=("read_*",)),
        recorder=RequestRecorder(store, "chatcmpl-test"),
        agent="mcp_governed",
        agent_tools=("read_file", "write_file"),
    )
    token = current_request.set(ctx)
    try:
        outcomes = []
        for tool in ("read_file", "write_file"):
            tc = ToolContext(None, tool_name=tool, tool_call_id="c", tool_arguments="{}")
            data = ToolInputGuardrailData(context=tc, agent=Agent(name="a"))
            result = await gateway_mcp_guardrail.run(data)
            outcomes.append(result.behavior["type"])
    finally:
        current_request.reset(token)
    await ctx.recorder.flush()
    assert outcomes == ["allow", "reject_content"]
    acl = [(e["resource"], e["decision"]) for t, e in await request_events(store)]
    assert acl == [("read_file", "allow"), ("write_file", "deny")]
