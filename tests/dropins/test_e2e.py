"""Drop-in agents end to end: uvicorn on loopback, the real ``openai`` client, the fake upstream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from agents.agent import Agent
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.run import RunConfig, Runner

from tests.api.conftest import SAMPLE_TOOLS, data, issue_key, types_of, wait_for_terminal
from tests.dropins.conftest import FIXTURES
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

ROOTS = [str(FIXTURES / "good"), str(FIXTURES / "broken"), str(FIXTURES / "withtools")]


@pytest.fixture
def gw(gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream) -> LiveGateway:
    return gateway_factory(agents_dirs=ROOTS, tools_dirs=[SAMPLE_TOOLS], upstream=fake_upstream)


def by_type(events: list[Any], kind: str) -> list[dict[str, Any]]:
    return [data(e) for e in events if e.type == kind]


async def test_multi_turn_context_reaches_the_upstream_intact(gw, fake_upstream) -> None:
    fake_upstream.text("Your name is Ada.")
    history: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
    ]
    async with gw.openai() as client:
        answer = await client.chat.completions.create(
            model="minimal", messages=history, max_tokens=50
        )
    assert answer.choices[0].message.content == "Your name is Ada."
    assert answer.choices[0].finish_reason == "stop"
    sent = fake_upstream.requests[0].body
    assert sent["messages"] == [
        {"role": "system", "content": "You are the minimal test agent."},
        *history,
    ]
    assert sent["max_tokens"] == 50
    events = wait_for_terminal(gw, answer.id)
    types = types_of(events)
    assert types.index("upstream.call_started") < types.index("upstream.call_completed")
    assert types[-1] == "request.completed"


async def test_streamed_agent_tools_are_never_client_tool_calls_and_are_logged(
    gw, fake_upstream
) -> None:
    fake_upstream.tool_calls(("weather", {"city": "Oslo"}), fragments=2)
    fake_upstream.text("Sunny in Oslo.", chunks=3)
    async with gw.openai() as client:
        stream = await client.chat.completions.create(
            model="tooly",
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
    assert not [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert not [c for c in chunks if c.choices and c.choices[0].delta.model_extra]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Sunny in Oslo."
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    finishes = [f for f in finishes if f]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    events = wait_for_terminal(gw, chunks[0].id)
    invoked = by_type(events, "tool.invoked")
    assert [(e["tool"], e["source"], e["agent"]) for e in invoked] == [("weather", "sdk", "tooly")]
    acl = [e for e in by_type(events, "acl.decided") if e["action"] == "call_tool"]
    assert [(e["resource"], e["decision"]) for e in acl] == [("weather", "allow")]
    assert by_type(events, "tool.completed")[0]["result"] == "sunny in Oslo"
    deltas = by_type(events, "stream.delta")
    assert not any("tool_calls" in d.get("delta", {}) for d in deltas)


async def test_show_tools_header_streams_the_vendor_key_only(gw, fake_upstream) -> None:
    fake_upstream.tool_calls(("weather", {"city": "Oslo"}), fragments=2)
    fake_upstream.text("Sunny in Oslo.", chunks=3)
    async with gw.openai() as client:
        stream = await client.chat.completions.create(
            model="tooly",
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            stream=True,
            extra_headers={"x-ledgergate-show-tools": "true"},
        )
        chunks = [c async for c in stream]
    assert not [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    shown = [
        c.choices[0].delta.model_extra
        for c in chunks
        if c.choices and c.choices[0].delta.model_extra
    ]
    call_id = shown[0]["ledgergate_tool_call"]["id"]
    assert shown == [
        {
            "ledgergate_tool_call": {
                "id": call_id,
                "name": "weather",
                "arguments": '{"city": "Oslo"}',
                "status": "started",
            }
        },
        {
            "ledgergate_tool_call": {
                "id": call_id,
                "name": "weather",
                "arguments": '{"city": "Oslo"}',
                "status": "completed",
                "output": "sunny in Oslo",
            }
        },
    ]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Sunny in Oslo."
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]


async def test_a_key_without_the_tool_right_gets_a_model_visible_refusal(gw, fake_upstream) -> None:
    secret, key_id = issue_key(gw, "limited", agents=["tooly"], tools=["weather"])
    fake_upstream.tool_calls(("secret_vault", {"item": "crown"}))
    fake_upstream.text("I am not allowed to open the vault.")
    async with gw.openai(secret) as client:
        answer = await client.chat.completions.create(
            model="tooly", messages=[{"role": "user", "content": "Open the vault"}]
        )
    assert answer.choices[0].message.content == "I am not allowed to open the vault."
    tool_msg = next(m for m in fake_upstream.requests[1].body["messages"] if m["role"] == "tool")
    assert "secret_vault" in tool_msg["content"] and "not allowed" in tool_msg["content"]
    events = wait_for_terminal(gw, answer.id)
    deny = [e for e in by_type(events, "acl.decided") if e["action"] == "call_tool"]
    assert [(e["subject"], e["resource"], e["decision"]) for e in deny] == [
        (key_id, "secret_vault", "deny")
    ]
    assert by_type(events, "tool.failed")[0]["outcome"] == "denied"


async def test_gateway_tool_in_a_dropin_is_logged_with_source_gateway(gw, fake_upstream) -> None:
    fake_upstream.tool_calls(("get_time", {"timezone": "UTC"}))
    fake_upstream.text("It is late.")
    async with gw.openai() as client:
        answer = await client.chat.completions.create(
            model="clocky", messages=[{"role": "user", "content": "Time?"}]
        )
    events = wait_for_terminal(gw, answer.id)
    invoked = by_type(events, "tool.invoked")
    assert [(e["tool"], e["source"]) for e in invoked] == [("get_time", "gateway")]
    assert '"timezone"' in by_type(events, "tool.completed")[0]["result"]


async def test_broken_dropins_are_listed_and_the_others_keep_serving(gw, fake_upstream) -> None:
    async with httpx.AsyncClient(base_url=gw.base_url, headers=gw.headers()) as http:
        scan = await http.post("/admin/discovery/scan")
        assert scan.status_code == 200
        failed = {f["name"]: f for f in scan.json()["failed"]}
        assert set(failed) == {"hosted", "missing_dep", "no_entry", "two_roots"}
        assert failed["missing_dep"]["remediation"] == "pip install ledgergate-not-installed-pkg"
        loaded = {e["name"] for e in scan.json()["loaded"]}
        assert {"minimal", "tooly", "triage", "builder", "clocky"} <= loaded
        models = await http.get("/v1/models")
        ids = {m["id"] for m in models.json()["data"]}
        assert {"minimal", "tooly", "builder"} <= ids and "hosted" not in ids
        refused = await http.post("/admin/discovery/scan", headers={"authorization": "Bearer x"})
        assert refused.status_code == 401
    fake_upstream.text("still here")
    async with gw.openai() as client:
        answer = await client.chat.completions.create(
            model="minimal", messages=[{"role": "user", "content": "hi"}]
        )
    assert answer.choices[0].message.content == "still here"


async def test_agent_builder_export_runs_unchanged_through_the_gateway(gw, fake_upstream) -> None:
    fake_upstream.text('{"category": "policy"}')
    fake_upstream.tool_calls(("get_policy", {"topic": "refunds"}))
    fake_upstream.text("Refunds: be kind.")
    async with gw.openai() as client:
        stream = await client.chat.completions.create(
            model="builder",
            messages=[{"role": "user", "content": "Refund policy?"}],
            stream=True,
        )
        chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Refunds: be kind."
    bodies = [r.body for r in fake_upstream.requests]
    assert [b["model"] for b in bodies] == ["gpt-5", "gpt-5", "gpt-5"]
    assert all("store" not in b and "reasoning_effort" not in b for b in bodies)
    events = wait_for_terminal(gw, chunks[0].id)
    assert [e["source"] for e in by_type(events, "tool.invoked")] == ["sdk"]


async def test_the_agents_sdk_itself_can_use_the_gateway_as_its_model(gw, fake_upstream) -> None:
    fake_upstream.tool_calls(("weather", {"city": "Rome"}))
    fake_upstream.text("Rome is sunny.")
    async with gw.openai() as client:
        model = OpenAIChatCompletionsModel(model="tooly", openai_client=client)
        agent: Agent[Any] = Agent(name="client-side", instructions="Ask tooly.", model=model)
        result = await Runner.run(
            agent, "Weather in Rome?", run_config=RunConfig(tracing_disabled=True)
        )
    assert result.final_output == "Rome is sunny."
    # the client-side agent's instructions reached the drop-in, behind its own
    first = fake_upstream.requests[0].body["messages"]
    assert first[0]["content"] == "Use your tools."
    assert {"role": "system", "content": "Ask tooly."} in first


def test_client_disconnect_cancels_the_agent_run_and_its_upstream_call(gw, fake_upstream) -> None:
    fake_upstream.text("x" * 400, chunks=200, delay=0.02)
    body = {"model": "minimal", "messages": [{"role": "user", "content": "talk"}], "stream": True}
    with (
        httpx.Client() as http,
        http.stream(
            "POST", gw.url("/v1/chat/completions"), json=body, headers=gw.headers()
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        lines = response.iter_lines()
        assert next(lines).startswith("data: {")  # the stream has begun; now hang up
    events = wait_for_terminal(gw, request_id)
    assert types_of(events)[-1] == "request.cancelled"
    assert fake_upstream.wait_outcome() == "client_closed"
    assert len(fake_upstream.requests) == 1
