"""The Agents SDK with its default model (the Responses API) pointed at the gateway, and SDK
drop-ins served on ``/v1/responses``: client tools run by the client, gateway-run tools hidden
unless asked for, every tool call in the log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from agents.agent import Agent
from agents.models.openai_provider import OpenAIProvider
from agents.models.openai_responses import OpenAIResponsesModel
from agents.run import RunConfig, Runner
from agents.tool import function_tool

from tests.api.conftest import SAMPLE_TOOLS, data, types_of, wait_for_terminal
from tests.dropins.conftest import FIXTURES
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

ROOTS = [str(FIXTURES / "good")]
CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLS.append(city)
    return f"sunny in {city}"


@pytest.fixture
def gw(gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream) -> LiveGateway:
    CALLS.clear()
    return gateway_factory(agents_dirs=ROOTS, tools_dirs=[SAMPLE_TOOLS], upstream=fake_upstream)


def _config(client: Any) -> RunConfig:
    # The SDK's default provider: models are OpenAIResponsesModel (POST /v1/responses).
    return RunConfig(model_provider=OpenAIProvider(openai_client=client), tracing_disabled=True)


async def test_runner_run_with_a_client_tool_over_the_responses_api(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("get_weather", {"city": "Rome"}), fragments=2)
    fake_upstream.text("Rome is sunny.")
    async with gw.openai() as client:
        agent: Agent[Any] = Agent(
            name="client-side", instructions="Be brief.", model="fake-model", tools=[get_weather]
        )
        assert isinstance(
            _config(client).model_provider.get_model("fake-model"), OpenAIResponsesModel
        )
        result = await Runner.run(agent, "Weather in Rome?", run_config=_config(client))
    assert result.final_output == "Rome is sunny."
    assert CALLS == ["Rome"]
    # auto: one /responses call finds the fake has no Responses API, then chat translation.
    probe, hop1, hop2 = fake_upstream.wait_requests(3)
    assert probe.path.endswith("/responses")
    first, second = hop1.body, hop2.body
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    assert first["tools"][0]["function"]["name"] == "get_weather"
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["content"] == "sunny in Rome"
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert [r.path.endswith("/responses") for r in fake_upstream.requests] == [True, False, False]


async def test_run_streamed_with_a_client_tool_over_the_responses_api(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("get_weather", {"city": "Oslo"}), fragments=3)
    fake_upstream.text("Oslo is sunny.", chunks=3)
    async with gw.openai() as client:
        agent: Agent[Any] = Agent(name="c", model="fake-model", tools=[get_weather])
        result = Runner.run_streamed(agent, "Weather in Oslo?", run_config=_config(client))
        kinds = [event.type async for event in result.stream_events()]
    assert result.final_output == "Oslo is sunny."
    assert CALLS == ["Oslo"]
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds


async def test_sdk_dropin_on_responses_hides_its_tools_and_gets_items_natively(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("weather", {"city": "Oslo"}), fragments=2)
    fake_upstream.text("Sunny in Oslo.", chunks=2)
    async with gw.openai() as client:
        stream = await client.responses.create(
            model="tooly",
            instructions="Answer in English.",
            input=[{"role": "user", "content": [{"type": "input_text", "text": "Oslo?"}]}],
            stream=True,
        )
        events = [e async for e in stream]
    final = events[-1].response  # type: ignore[union-attr]
    assert events[-1].type == "response.completed"
    assert [o.type for o in final.output] == ["message"]
    assert final.output_text == "Sunny in Oslo."
    first = fake_upstream.requests[0].body["messages"]
    assert first == [
        {"role": "system", "content": "Use your tools."},
        {"role": "system", "content": "Answer in English."},
        {"role": "user", "content": [{"type": "text", "text": "Oslo?"}]},
    ]
    logged = wait_for_terminal(gw, final.id)
    invoked = [data(e) for e in logged if e.type == "tool.invoked"]
    assert [(e["tool"], e["source"]) for e in invoked] == [("weather", "sdk")]
    assert data(logged[0])["api"] == "responses"


async def test_show_tools_header_shows_gateway_run_tools_as_mcp_call_items(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("weather", {"city": "Oslo"}), fragments=2)
    fake_upstream.text("Sunny in Oslo.", chunks=2)
    async with gw.openai() as client:
        stream = await client.responses.create(
            model="tooly",
            input="Oslo?",
            stream=True,
            extra_headers={"x-ledgergate-show-tools": "true"},
        )
        events = [e async for e in stream]
    kinds = [e.type for e in events]
    assert kinds[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
    ]
    final = events[-1].response  # type: ignore[union-attr]
    call, message = final.output
    assert (call.type, call.name, call.server_label, call.status) == (
        "mcp_call",
        "weather",
        "ledgergate",
        "completed",
    )
    assert json.loads(call.arguments) == {"city": "Oslo"} and call.output == "sunny in Oslo"
    assert message.type == "message" and final.output_text == "Sunny in Oslo."
    assert types_of(wait_for_terminal(gw, final.id))[-1] == "request.completed"


async def test_show_tools_on_a_non_streamed_response_puts_the_tools_in_output(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("weather", {"city": "Oslo"}), fragments=2)
    fake_upstream.text("Sunny in Oslo.", chunks=2)
    async with gw.openai() as client:
        shown = await client.responses.create(
            model="tooly", input="Oslo?", extra_headers={"x-ledgergate-show-tools": "true"}
        )
        wait_for_terminal(gw, shown.id)
        again = await client.responses.retrieve(shown.id)
    call, message = shown.output
    assert (call.type, call.name, call.status, call.output) == (
        "mcp_call",
        "weather",
        "completed",
        "sunny in Oslo",
    )
    assert json.loads(call.arguments) == {"city": "Oslo"}
    assert message.type == "message" and shown.output_text == "Sunny in Oslo."
    # Retrieving (no header) gives the answer's items under the ids the client was sent.
    assert [(o.type, o.id) for o in again.output] == [("message", message.id)]


async def test_without_show_tools_a_non_streamed_response_has_only_the_answer(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("weather", {"city": "Oslo"}), fragments=2)
    fake_upstream.text("Sunny in Oslo.")
    async with gw.openai() as client:
        hidden = await client.responses.create(model="tooly", input="Oslo?")
    assert [o.type for o in hidden.output] == ["message"]
    assert hidden.output_text == "Sunny in Oslo."


LOOKUP = {
    "type": "function",
    "name": "lookup",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_mixed_turn_restores_the_agents_held_calls_on_the_next_response(
    gw: LiveGateway, fake_upstream: FakeUpstream, stream: bool
) -> None:
    # One model turn calls the agent's own tool and the client's: the gateway runs its own,
    # answers with the client's call, and puts its own back when the client answers.
    fake_upstream.tool_calls(("weather", {"city": "Oslo"}), ("lookup", {"q": "x"}))
    fake_upstream.text("Sunny; x found.")
    question = "Weather in Oslo, and look x up?"
    async with gw.openai() as client:
        if stream:
            created = await client.responses.create(
                model="tooly", input=question, tools=[LOOKUP], stream=True
            )
            first = [e async for e in created][-1].response  # type: ignore[union-attr]
        else:
            first = await client.responses.create(model="tooly", input=question, tools=[LOOKUP])
        [call] = first.output
        assert (call.type, call.name) == ("function_call", "lookup")  # type: ignore[union-attr]
        assert call.call_id.startswith("call_lgr_")  # type: ignore[union-attr]
        result = {"type": "function_call_output", "call_id": call.call_id, "output": "found"}  # type: ignore[union-attr]
        if stream:  # the client sends the whole conversation back (as the Vercel AI SDK does)
            history = [{"role": "user", "content": question}, call.model_dump(), result]
            second = await client.responses.create(model="tooly", input=history, tools=[LOOKUP])
        else:
            second = await client.responses.create(
                model="tooly", previous_response_id=first.id, input=[result], tools=[LOOKUP]
            )
    assert second.output_text == "Sunny; x found."
    completed = data(wait_for_terminal(gw, first.id)[-1])
    assert [m["role"] for m in completed["held"]] == ["assistant", "tool"]
    hop = fake_upstream.wait_requests(2)[-1].body["messages"]
    assert [m["role"] for m in hop] == ["system", "user", "assistant", "tool", "tool"]
    names = [c["function"]["name"] for c in hop[2]["tool_calls"]]
    assert names == ["weather", "lookup"]
    ids = [c["id"] for c in hop[2]["tool_calls"]]
    results = {m["tool_call_id"]: m["content"] for m in hop[3:]}
    assert results == {ids[0]: "sunny in Oslo", call.call_id: "found"}  # type: ignore[union-attr]
    assert CALLS == []  # the client's tool never ran in the gateway
