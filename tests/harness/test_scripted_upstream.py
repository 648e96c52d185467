"""The offline scripted upstream, driven through the real ``openai`` client and the port."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import pytest

from app.adapters.upstream import HttpUpstream, build_upstream
from app.adapters.upstream.scripted import MODELS, ScriptedTransport
from app.settings import Settings

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


@dataclass
class Scripted:
    """The gateway's scripted upstream, and an ``openai`` client on the same transport."""

    port: HttpUpstream
    client: openai.AsyncOpenAI


@pytest.fixture
async def upstream() -> AsyncIterator[Scripted]:
    port = build_upstream(Settings(upstream_models=("gpt-*", "scripted")))
    client = openai.AsyncOpenAI(
        api_key="scripted",
        base_url="http://scripted.invalid/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=ScriptedTransport()),
    )
    yield Scripted(port, client)
    await client.close()
    await port.close()


async def test_without_a_key_the_upstream_is_scripted_and_labelled(upstream: Scripted) -> None:
    port = upstream.port
    assert port.scripted is True
    assert port.label == "scripted"
    assert port.allows_model("gpt-4o") and port.allows_model("scripted")
    assert not port.allows_model("claude-3")
    assert await port.model_ids(5.0) == list(MODELS)  # it serves only the models it lists
    models = await upstream.client.models.list()
    assert [m.id for m in models.data] == list(MODELS)
    with pytest.raises(openai.NotFoundError) as err:
        await upstream.client.chat.completions.create(
            model="assitant", messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.code == "model_not_found"


async def test_a_real_upstream_label_never_carries_credentials() -> None:
    settings = Settings(
        upstream_api_key="sk-secret", upstream_base_url="https://u:p@llm.example:8443/v1?k=1"
    )
    up = build_upstream(settings)
    try:
        assert (up.scripted, up.label) == (False, "https://llm.example:8443")
    finally:
        await up.close()


async def test_non_streamed_answer_echoes_model_and_counts_words(upstream: Scripted) -> None:
    messages: Any = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi there"},
    ]
    done = await upstream.client.chat.completions.create(model="gpt-4o", messages=messages)
    assert done.model == "gpt-4o"
    assert done.choices[0].message.content == "Scripted answer: hi there"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.total_tokens) == (
        4,
        4,
        8,
    )


async def test_streamed_text_arrives_in_several_chunks_with_usage(upstream: Scripted) -> None:
    stream = await upstream.client.chat.completions.create(
        model="scripted",
        messages=[{"role": "user", "content": "tell me a story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) >= 3
    assert "".join(texts) == "Scripted answer: tell me a story"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6


async def test_streamed_tool_call_is_assembled_by_the_client_stream_helper(
    upstream: Scripted,
) -> None:
    async with upstream.client.chat.completions.stream(
        model="scripted",
        messages=[{"role": "user", "content": "get_time then get_weather for 'Oslo' 3 days"}],
        tools=[CLOCK, WEATHER],
    ) as stream:
        final = await stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert final.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_time"  # first offered tool named in the text
    assert json.loads(call.function.arguments) == {}
    assert call.id.startswith("call_")


async def test_tool_arguments_come_from_the_schema_and_the_text(upstream: Scripted) -> None:
    done = await upstream.client.chat.completions.create(
        model="scripted",
        messages=[{"role": "user", "content": "weather in 'Paris' for 3 days"}],
        tools=[WEATHER],
    )
    (call,) = done.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"  # not named: the first offered tool
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 3}


async def test_after_a_tool_result_it_answers_with_the_result(upstream: Scripted) -> None:
    messages: Any = [
        {"role": "user", "content": "weather in Paris"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
    ]
    done = await upstream.client.chat.completions.create(
        model="scripted", messages=messages, tools=[WEATHER]
    )
    assert done.choices[0].message.content == "Tool results: get_weather returned sunny, 21C."
    assert not done.choices[0].message.tool_calls


async def test_sse_framing_golden_bytes() -> None:
    http = httpx2.AsyncClient(transport=ScriptedTransport(clock=lambda: 1700000000))
    body = {
        "model": "scripted",
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
        "stream_options": {"include_usage": True},
    }
    response = await http.post("http://scripted.invalid/v1/chat/completions", json=body)
    await http.aclose()
    assert response.headers["content-type"].startswith("text/event-stream")
    digest = response.text.split("chatcmpl-scripted-")[1][:20]
    head = (
        '"id":"chatcmpl-scripted-' + digest + '","object":"chat.completion.chunk",'
        '"created":1700000000,"model":"scripted","system_fingerprint":null'
    )

    def chunk(delta: str, finish: str = "null") -> str:
        choice = '{"index":0,"delta":' + delta + ',"logprobs":null,"finish_reason":' + finish + "}"
        return "data: {" + head + ',"choices":[' + choice + '],"usage":null}\n\n'

    usage = '"usage":{"prompt_tokens":1,"completion_tokens":3,"total_tokens":4}'
    expected = (
        chunk('{"role":"assistant","content":"","refusal":null}')
        + chunk('{"content":"Scripte"}')
        + chunk('{"content":"d answe"}')
        + chunk('{"content":"r: hi"}')
        + chunk("{}", '"stop"')
        + "data: {"
        + head
        + ',"choices":[],'
        + usage
        + "}\n\n"
        + "data: [DONE]\n\n"
    )
    assert response.text == expected


async def test_bad_requests_get_openai_errors(upstream: Scripted) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await upstream.client.post("/chat/completions", body={"model": "scripted"}, cast_to=object)
    assert info.value.status_code == 400


def test_a_json_schema_response_format_holds_after_tool_results_too() -> None:
    from app.adapters.upstream.scripted import plan_reply

    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "detail": {"$ref": "#/$defs/Detail"}},
        "required": ["answer", "detail"],
        "$defs": {
            "Detail": {
                "type": "object",
                "properties": {"words": {"type": "integer"}, "sure": {"type": "boolean"}},
                "required": ["words", "sure"],
            }
        },
    }
    call = {"id": "c1", "type": "function", "function": {"name": "word_count", "arguments": "{}"}}
    body = {
        "model": "scripted",
        "messages": [
            {"role": "user", "content": "count 'a b c'"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "3"},
        ],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    plan = plan_reply(body)
    assert plan.tool_call is None and plan.text is not None
    answer = "Tool results: word_count returned 3."  # the structured answer quotes the result
    assert json.loads(plan.text) == {"answer": answer, "detail": {"words": 3, "sure": True}}
