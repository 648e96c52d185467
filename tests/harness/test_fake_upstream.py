"""The fake upstream's scripted behaviours, as the real ``openai`` client sees them.

How the gateway maps each of them is tested through its own port in ``test_http_upstream``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from tests.support.fake_upstream import FakeUpstream

MESSAGES: Any = [{"role": "user", "content": "hello there"}]


@pytest.fixture
async def client(fake_upstream: FakeUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    c = openai.AsyncOpenAI(
        base_url=fake_upstream.base_url, api_key="sk-test", max_retries=0, timeout=5
    )
    yield c
    await c.close()


async def test_text_stream_is_chunked_and_requests_are_recorded(
    fake_upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    fake_upstream.text("one two three four", chunks=4, delay=0.001)
    stream = await client.chat.completions.create(
        model="m1", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    contents = [c.choices[0].delta.content for c in chunks if c.choices]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [x for x in contents if x] == ["one t", "wo th", "ree f", "our"]
    assert "".join(x or "" for x in contents) == "one two three four"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    (request,) = fake_upstream.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "m1" and request.body["stream"] is True
    assert fake_upstream.wait_outcome(0) == "completed"


async def test_default_reply_when_queue_is_empty(
    fake_upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    done = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert done.choices[0].message.content == "Hello from the fake upstream."
    assert [m.id for m in (await client.models.list()).data] == ["fake-model"]


async def test_parallel_tool_calls_are_assembled_by_the_client(
    fake_upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    fake_upstream.tool_calls(
        ("get_weather", {"city": "Paris"}), ("get_time", {"tz": "UTC"}), fragments=4
    )
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        final = await stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name) for c in calls] == [
        ("call_fake_0", "get_weather"),
        ("call_fake_1", "get_time"),
    ]
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Paris"}, {"tz": "UTC"}]
    assert final.choices[0].finish_reason == "tool_calls"


async def test_argument_fragments_are_split_across_chunks(
    fake_upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    fake_upstream.tool_calls(("lookup", {"query": "a long query"}), fragments=3)
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    deltas = [tc for c in [c async for c in stream] for tc in (c.choices[0].delta.tool_calls or [])]
    first, *rest = deltas
    assert first.id == "call_fake_0" and first.type == "function"
    assert first.function is not None and first.function.arguments == ""
    assert len(rest) == 3 and all(d.id is None and d.index == 0 for d in rest)
    assert (
        "".join(d.function.arguments or "" for d in rest if d.function)
        == '{"query": "a long query"}'
    )


async def test_error_status_carries_openai_error_json(
    fake_upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    fake_upstream.error(429, "Slow down", type="rate_limit_error", code="rate_limit_exceeded")
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.body == {
        "message": "Slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }


async def test_a_stream_cut_midway_breaks_the_client_stream(
    fake_upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    fake_upstream.cut(after=2)
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    assert fake_upstream.wait_outcome(0) == "cut"


async def test_a_cut_json_body_is_a_broken_response(
    fake_upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    fake_upstream.cut()
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="m", messages=MESSAGES)


async def test_a_malformed_chunk_raises_a_json_error(
    fake_upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    fake_upstream.malformed(after=1)
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with pytest.raises(json.JSONDecodeError):
        async for _ in stream:
            pass


async def test_a_malformed_body_raises_a_json_error(
    fake_upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    fake_upstream.malformed()
    with pytest.raises(json.JSONDecodeError):
        await client.chat.completions.create(model="m", messages=MESSAGES)


async def test_a_hang_times_out_and_the_fake_sees_the_client_leave(
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.hang()
    async with openai.AsyncOpenAI(
        base_url=fake_upstream.base_url, api_key="k", max_retries=0, timeout=0.3
    ) as quick:
        with pytest.raises(openai.APITimeoutError):
            await quick.chat.completions.create(model="m", messages=MESSAGES)
    assert fake_upstream.wait_outcome(0) == "client_closed"


async def test_closing_a_slow_stream_early_is_seen_as_client_closed(
    fake_upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    fake_upstream.text("a b c d e f g h", chunks=8, delay=0.05)
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    async for _ in stream:
        break
    await stream.close()
    assert await fake_upstream.await_outcome(0) == "client_closed"
    assert len(await fake_upstream.await_requests(1)) == 1
