"""Declarative agents end to end: the gateway's tool loop, streamed, with its events."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from tests.api.conftest import data, events_of, types_of
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

AGENT = """
model = "upstream-model"
instructions = "You help."
tools = ["get_time", "word_count"]
max_tool_hops = 2
"""
MSG = [{"role": "user", "content": "What time is it, and how many words in 'a b c'?"}]


async def test_parallel_gateway_tools_run_and_the_next_hop_is_streamed(
    agent_gateway: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(
        ("get_time", {"timezone": "UTC"}), ("word_count", {"text": "a b c"}), fragments=2
    )
    fake_upstream.text("It is now; 3 words.")
    gw = agent_gateway(AGENT, upstream=fake_upstream)
    async with gw.openai() as client:
        stream = await client.chat.completions.create(
            model="helper", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
        chunks = [c async for c in stream]
    request_id = chunks[0].id
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "It is now; 3 words."
    # The gateway's own tools never reach the client as tool calls.
    assert not [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]  # the gateway ran the tools itself
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    # Hop 2 saw the agent's instructions, the assistant's calls and both tool results.
    hop1, hop2 = (r.body for r in fake_upstream.wait_requests(2))
    assert hop1["model"] == "upstream-model"
    assert {t["function"]["name"] for t in hop1["tools"]} == {"get_time", "word_count"}
    assert hop2["messages"][0] == {"role": "system", "content": "You help."}
    assert hop2["messages"][-3]["tool_calls"][1]["function"]["name"] == "word_count"
    assert hop2["messages"][-1] == {"role": "tool", "tool_call_id": "call_fake_1", "content": "3"}
    kinds = types_of(events_of(gw, request_id))
    assert kinds.count("upstream.call_started") == 2
    assert kinds.count("tool.invoked") == 2 and kinds.count("tool.completed") == 2
    assert kinds.count("stream.delta") == len(chunks)
    assert kinds[-1] == "request.completed"


async def test_client_tools_end_the_answer_with_tool_calls(
    agent_gateway: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("lookup", {"q": "x"}))
    gw = agent_gateway(AGENT, upstream=fake_upstream)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    async with gw.openai() as client:
        completion = await client.chat.completions.create(
            model="helper",
            messages=MSG,
            tools=[tool],  # type: ignore[list-item]
        )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [c.function.name for c in choice.message.tool_calls or []] == ["lookup"]  # type: ignore[union-attr]
    offered = {t["function"]["name"] for t in fake_upstream.requests[-1].body["tools"]}
    assert offered == {"get_time", "word_count", "lookup"}
    assert "tool.invoked" not in types_of(events_of(gw, completion.id))


@pytest.mark.parametrize("stream", [False, True])
async def test_hop_limit_is_a_clear_error(
    agent_gateway: Callable[..., LiveGateway], fake_upstream: FakeUpstream, stream: bool
) -> None:
    for _ in range(3):
        fake_upstream.tool_calls(("word_count", {"text": "again"}))
    gw = agent_gateway(AGENT, upstream=fake_upstream)
    async with gw.openai() as client:
        if stream:
            response = await client.chat.completions.create(
                model="helper", messages=MSG, stream=True
            )
            with pytest.raises(openai.APIError, match="max_tool_hops"):
                async for _chunk in response:
                    pass
        else:
            with pytest.raises(openai.UnprocessableEntityError, match="max_tool_hops") as err:
                await client.chat.completions.create(model="helper", messages=MSG)
            request_id = err.value.response.headers["x-request-id"]
            events = events_of(gw, request_id)
            assert types_of(events)[-1] == "request.failed"
            assert data(events[-1])["code"] == "max_tool_hops_exceeded"
    assert len(fake_upstream.requests) == 3  # two tool rounds, then the limit


async def test_key_without_the_tool_never_sees_it_offered(
    agent_gateway: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    from tests.api.conftest import issue_key

    fake_upstream.text("ok")
    gw = agent_gateway(AGENT, upstream=fake_upstream)
    secret, _ = issue_key(gw, "narrow", agents=["helper"], tools=["word_count"])
    async with gw.openai(api_key=secret) as client:
        await client.chat.completions.create(model="helper", messages=MSG)
    offered = {t["function"]["name"] for t in fake_upstream.requests[-1].body["tools"]}
    assert offered == {"word_count"}
