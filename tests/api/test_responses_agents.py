"""Declarative agents on ``/v1/responses``: their gateway tools run and stay hidden (in the log),
a client function tool ends the response with a ``function_call`` item, resumed by its output."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.api.conftest import data, wait_for_terminal
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

AGENT = """
model = "upstream-model"
instructions = "You help."
tools = ["get_time", "word_count"]
max_tool_hops = 2
"""
LOOKUP = {
    "type": "function",
    "name": "lookup",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}


async def test_gateway_tools_are_hidden_and_client_tools_round_trip(
    agent_gateway: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("word_count", {"text": "a b c"}), fragments=2)
    fake_upstream.tool_calls(("lookup", {"q": "x"}))
    fake_upstream.text("3 words; x found.")
    gw = agent_gateway(AGENT, upstream=fake_upstream)
    async with gw.openai() as client:
        stream = await client.responses.create(
            model="helper",
            input="Count 'a b c' and look x up.",
            tools=[LOOKUP],  # type: ignore[list-item]
            stream=True,
        )
        events = [e async for e in stream]
        first = events[-1].response  # type: ignore[union-attr]
        assert [(o.type, o.name) for o in first.output] == [("function_call", "lookup")]
        call = first.output[0]
        second = await client.responses.create(
            model="helper",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "found"}],
            tools=[LOOKUP],  # type: ignore[list-item]
        )
    assert second.output_text == "3 words; x found."
    assert not any("word_count" in json.dumps(e.model_dump()) for e in events)
    logged = wait_for_terminal(gw, first.id)
    invoked = [data(e) for e in logged if e.type == "tool.invoked"]
    assert [(e["tool"], e["source"]) for e in invoked] == [("word_count", "gateway")]
    resumed = fake_upstream.requests[-1].body["messages"]
    assert resumed[0] == {"role": "system", "content": "You help."}
    assert resumed[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "found"}
    # The agent's own word_count call, hidden from the client, is restored from the log.
    roles = [m["role"] for m in resumed]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert resumed[2]["tool_calls"][0]["function"]["name"] == "word_count"
