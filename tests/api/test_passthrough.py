"""Upstream passthrough end to end: real uvicorn gateway, real ``openai`` clients, fake upstream."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import msgspec
import openai
import pytest

from tests.api.conftest import all_events, data, events_of, types_of, wait_for_terminal
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

MSG = [{"role": "user", "content": "Say hello"}]


def _frames(body: bytes) -> list[bytes]:
    assert body.endswith(b"\n\n")
    return [f for f in body.split(b"\n\n") if f]


async def test_streamed_text_reaches_async_client_and_every_chunk_is_an_event(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.text("Hello there, traveller", chunks=4)
    gw = gateway_factory(upstream=fake_upstream)
    async with gw.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-test", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
        request_id = raw.headers["x-request-id"]
        chunks = [c async for c in raw.parse()]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello there, traveller"
    )
    assert {c.id for c in chunks} == {request_id}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    events = events_of(gw, request_id)  # durable before [DONE] reached us: no waiting
    kinds = types_of(events)
    assert kinds[:3] == ["request.received", "acl.decided", "upstream.call_started"]
    assert kinds[-1] == "request.completed"
    assert kinds.count("stream.delta") == len(chunks)
    assert "upstream.call_completed" in kinds
    received = data(events[0])
    assert received["body"]["messages"] == MSG and received["target"] == "upstream"
    # The upstream got the client's request (and asked for usage itself).
    sent = fake_upstream.requests[-1].body
    assert sent["model"] == "gpt-test" and sent["stream"] is True


def test_non_streamed_sync_client_and_unknown_fields_go_upstream(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.text("Plain answer")
    gw = gateway_factory(upstream=fake_upstream)
    client = openai.OpenAI(base_url=gw.url("/v1"), api_key=gw.master_key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-test",
        messages=MSG,
        temperature=0.25,
        extra_body={"some_future_field": {"x": [1, 2]}},
    )
    completion = raw.parse()
    assert completion.id == raw.headers["x-request-id"]
    assert completion.choices[0].message.content == "Plain answer"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    sent = fake_upstream.requests[-1].body
    assert sent["some_future_field"] == {"x": [1, 2]} and sent["temperature"] == 0.25
    assert not sent.get("stream")
    events = events_of(gw, completion.id)
    assert types_of(events) == [
        "request.received",
        "acl.decided",
        "upstream.call_started",
        "upstream.call_completed",
        "request.completed",
    ]
    assert data(events[-1])["message"]["content"] == "Plain answer"


def test_sync_streaming_with_parallel_tool_calls_assembled_by_the_client_helper(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(
        ("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"}), fragments=3
    )
    gw = gateway_factory(upstream=fake_upstream)
    client = openai.OpenAI(base_url=gw.url("/v1"), api_key=gw.master_key, max_retries=0)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    with client.chat.completions.stream(
        model="gpt-test",
        messages=MSG,
        tools=tools,  # type: ignore[arg-type]
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"  # the client's own tools go back to it
    calls = choice.message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", '{"city": "Paris"}'),
        ("get_weather", '{"city": "Oslo"}'),
    ]
    assert [c.id for c in calls] == ["call_fake_0", "call_fake_1"]


def test_sse_bytes_on_the_wire_follow_openai(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("a", {"k": 1}), ("b", {"k": 2}), fragments=2, text="Hm")
    gw = gateway_factory(upstream=fake_upstream)
    body = {"model": "m", "messages": MSG, "stream": True}
    response = httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = _frames(response.content)
    assert frames[-1] == b"data: [DONE]"
    assert all(f.startswith(b"data: {") for f in frames[:-1])
    chunks = [msgspec.json.decode(f[6:]) for f in frames[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    fragments = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert all("index" in tc for tc in fragments)
    firsts = [tc for tc in fragments if "id" in tc]
    assert [(tc["index"], tc["type"], tc["function"]["name"]) for tc in firsts] == [
        (0, "function", "a"),
        (1, "function", "b"),
    ]
    rest = [tc for tc in fragments if "id" not in tc]
    assert all(
        set(tc) == {"index", "function"} and set(tc["function"]) == {"arguments"} for tc in rest
    )
    assert all(tc["function"]["arguments"] for tc in rest)  # no empty duplicate fragments
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert "usage" not in chunks[-1]  # not asked for
    assert "".join(d.get("content") or "" for d in deltas) == "Hm"  # text and calls both arrive


def test_client_disconnect_cancels_the_request_and_closes_the_upstream_call(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.text("x" * 400, chunks=200, delay=0.02)
    gw = gateway_factory(upstream=fake_upstream)
    body = {"model": "m", "messages": MSG, "stream": True}
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
    assert sum(1 for e in events if e.type in {"request.completed", "request.failed"}) == 0
    assert fake_upstream.wait_outcome() == "client_closed"
    assert httpx.get(gw.url("/healthz")).status_code == 200


def test_client_leaving_before_the_first_delta_cancels_too(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.hang()
    gw = gateway_factory(upstream=fake_upstream)
    body = {"model": "m", "messages": MSG, "stream": True}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers(), timeout=0.5)
    assert fake_upstream.wait_outcome() == "client_closed"
    received = [e for e in all_events(gw) if e.type == "request.received"]
    events = wait_for_terminal(gw, data(received[-1])["request_id"])
    assert types_of(events)[-1] == "request.cancelled"
