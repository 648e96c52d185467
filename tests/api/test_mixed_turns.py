"""A model turn that calls gateway tools and client tools together (contract 0.2).

The gateway runs its own calls, answers with the client's calls only, and when the client
sends its results, puts its own calls and their results back from the log, so the upstream
sees a complete conversation. Another key cannot have them restored.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.api.conftest import data, events_of, issue_key, types_of
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

AGENT = """
model = "upstream-model"
instructions = "You help."
tools = ["get_time", "word_count"]
"""
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}
MSG = [{"role": "user", "content": "How many words in 'a b c', and look up x?"}]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_mixed_turn_answers_the_client_calls_and_restores_the_gateway_calls(
    agent_gateway: Callable[..., LiveGateway], fake_upstream: FakeUpstream, stream: bool
) -> None:
    fake_upstream.tool_calls(("word_count", {"text": "a b c"}), ("lookup", {"q": "x"}))
    fake_upstream.text("3 words; x is found.")
    gw = agent_gateway(AGENT, upstream=fake_upstream)
    async with gw.openai() as client:
        if stream:
            chunks = [
                c
                async for c in await client.chat.completions.create(
                    model="helper", messages=MSG, tools=[LOOKUP], stream=True
                )
            ]
            deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
            first = [tc for tc in deltas if tc.id]
            assert [(tc.index, tc.function.name) for tc in first] == [(0, "lookup")]  # type: ignore[union-attr]
            call_id = first[0].id
            arguments = "".join(tc.function.arguments or "" for tc in deltas if tc.function)
            finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
            request_id = chunks[0].id
        else:
            completion = await client.chat.completions.create(
                model="helper", messages=MSG, tools=[LOOKUP]
            )
            calls = completion.choices[0].message.tool_calls or []
            assert [c.function.name for c in calls] == ["lookup"]  # type: ignore[union-attr]
            call_id = calls[0].id
            arguments = calls[0].function.arguments  # type: ignore[union-attr]
            finish = completion.choices[0].finish_reason
            request_id = completion.id
        assert finish == "tool_calls"
        assert call_id is not None and call_id.startswith("call_lg_")
        # The gateway ran word_count itself, in the same answer.
        kinds = types_of(events_of(gw, request_id))
        assert kinds.count("tool.invoked") == 1 and kinds.count("tool.completed") == 1
        completed = data(events_of(gw, request_id)[-1])
        assert [m["role"] for m in completed["held"]] == ["assistant", "tool"]

        history = [
            *MSG,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "lookup", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": "found"},
        ]
        answer = await client.chat.completions.create(
            model="helper", messages=history, tools=[LOOKUP]
        )
    assert answer.choices[0].message.content == "3 words; x is found."
    hop = fake_upstream.wait_requests(2)[-1].body["messages"]
    assert [m["role"] for m in hop] == ["system", "user", "assistant", "tool", "tool"]
    names = [c["function"]["name"] for c in hop[2]["tool_calls"]]
    assert names == ["word_count", "lookup"]
    ids = [c["id"] for c in hop[2]["tool_calls"]]
    results = {m["tool_call_id"]: m["content"] for m in hop[3:]}
    assert results == {ids[0]: "3", call_id: "found"}


async def test_another_key_cannot_restore_the_held_calls(
    agent_gateway: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("word_count", {"text": "a b c"}), ("lookup", {"q": "x"}))
    fake_upstream.text("fine")
    gw = agent_gateway(AGENT, upstream=fake_upstream)
    async with gw.openai() as client:
        completion = await client.chat.completions.create(
            model="helper", messages=MSG, tools=[LOOKUP]
        )
    call = (completion.choices[0].message.tool_calls or [])[0]
    secret, _ = issue_key(gw, "other", agents=["helper"], tools=["*"])
    history = [
        *MSG,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "found"},
    ]
    async with gw.openai(api_key=secret) as client:
        await client.chat.completions.create(model="helper", messages=history, tools=[LOOKUP])
    hop = fake_upstream.wait_requests(2)[-1].body["messages"]
    assert [m["role"] for m in hop] == ["system", "user", "assistant", "tool"]
    assert [c["function"]["name"] for c in hop[2]["tool_calls"]] == ["lookup"]
