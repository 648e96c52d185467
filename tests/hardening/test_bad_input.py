"""Bad input gets OpenAI's 400 naming the field, never a 5xx, and never reaches the upstream."""
# ruff: noqa: E501  (a table of request bodies, one per line)

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import all_events, types_of
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": USER, **fields}


def history(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": [*messages, *USER]}


def _nested(depth: int) -> bytes:
    inner = b"[" * depth + b"]" * depth
    return (
        b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "extra": ' + inner + b"}"
    )


# (id, body, param): OpenAI answers each with a 400 naming ``param``.
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("temperature-type", body(temperature="hot"), "temperature"),
    ("temperature-range", body(temperature=2.5), "temperature"),
    ("top-p-range", body(top_p=1.5), "top_p"),
    ("negative-max-tokens", body(max_tokens=-5), "max_tokens"),
    ("zero-max-completion-tokens", body(max_completion_tokens=0), "max_completion_tokens"),
    ("presence-penalty", body(presence_penalty=3), "presence_penalty"),
    ("frequency-penalty", body(frequency_penalty=-2.5), "frequency_penalty"),
    ("n-type", body(n="two"), "n"),
    ("stream-type", body(stream="yes"), "stream"),
    ("seed-type", body(seed=1.5), "seed"),
    ("logprobs-type", body(logprobs="yes"), "logprobs"),
    ("top-logprobs-range", body(logprobs=True, top_logprobs=50), "top_logprobs"),
    ("logit-bias-range", body(logit_bias={"50256": 500}), "logit_bias"),
    ("stop-too-many", body(stop=["a", "b", "c", "d", "e"]), "stop"),
    ("user-type", body(user=5), "user"),
    ("stream-options-without-stream", body(stream_options={"include_usage": True}), "stream_options"),
    ("stream-options-type", body(stream=True, stream_options={"include_usage": "y"}), "stream_options.include_usage"),
    ("tool-choice-unknown-tool", body(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "nope"}}), "tool_choice"),
    ("tool-choice-without-tools", body(tool_choice="required"), "tool_choice"),
    ("tool-choice-value", body(tools=[TOOL], tool_choice="sometimes"), "tool_choice"),
    ("parallel-tool-calls-type", body(tools=[TOOL], parallel_tool_calls="no"), "parallel_tool_calls"),
    ("tools-not-a-list", body(tools={"lookup": {}}), "tools"),
    ("tool-without-function", body(tools=[{"type": "function"}]), "tools[0].function"),
    ("tool-type", body(tools=[{"type": "retrieval", "function": TOOL["function"]}]), "tools[0].type"),
    ("tool-name", body(tools=[{"type": "function", "function": {"name": "has space"}}]), "tools[0].function.name"),
    ("tool-properties-list", body(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": ["city"]}}}]), "tools[0].function.parameters.properties"),
    ("tool-parameters-type", body(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]), "tools[0].function.parameters"),
    ("tool-parameters-not-object", body(tools=[{"type": "function", "function": {"name": "f", "parameters": "city"}}]), "tools[0].function.parameters"),
    ("response-format-type", body(response_format={"type": "xml"}), "response_format.type"),
    ("response-format-schema-missing", body(response_format={"type": "json_schema"}), "response_format.json_schema"),
    ("response-format-not-object", body(response_format="json"), "response_format"),
    ("messages-not-a-list", body(messages="hi"), "messages"),
    ("message-not-object", body(messages=["hi"]), "messages[0]"),
    ("message-role", body(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
    ("user-content-missing", body(messages=[{"role": "user"}]), "messages[0].content"),
    ("user-content-type", body(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    ("part-type", body(messages=[{"role": "user", "content": [{"type": "video", "video": "x"}]}]), "messages[0].content[0].type"),
    ("part-not-object", body(messages=[{"role": "user", "content": ["hi"]}]), "messages[0].content[0]"),
    ("file-part-string", body(messages=[{"role": "user", "content": [{"type": "file", "file": "abc"}]}]), "messages[0].content[0].file"),
    ("image-part-string-detail", body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u", "detail": "max"}}]}]), "messages[0].content[0].image_url.detail"),
    ("tool-message-without-id", body(messages=[{"role": "tool", "content": "x"}]), "messages[0].tool_call_id"),
    ("tool-call-function-string", history({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": "lookup"}]}), "messages[0].tool_calls[0].function"),
    ("tool-call-without-arguments", history({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup"}}]}), "messages[0].tool_calls[0].function.arguments"),
    ("tool-call-without-id", history({"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}), "messages[0].tool_calls[0].id"),
    ("assistant-content-type", history({"role": "assistant", "content": {"text": "x"}}), "messages[0].content"),
]  # fmt: skip


@pytest.fixture
def gateway(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> LiveGateway:
    return gateway_factory(upstream=fake_upstream, upstream_models=["m"])


def _post(gw: LiveGateway, content: bytes) -> httpx.Response:
    headers = {**gw.headers(), "content-type": "application/json"}
    return httpx.post(gw.url("/v1/chat/completions"), content=content, headers=headers, timeout=30)


@pytest.mark.parametrize(("name", "payload", "param"), INVALID, ids=[c[0] for c in INVALID])
def test_a_mistyped_known_field_is_a_400_naming_it(
    gateway: LiveGateway,
    fake_upstream: FakeUpstream,
    name: str,
    payload: dict[str, Any],
    param: str,
) -> None:
    before = len(all_events(gateway))
    response = _post(gateway, json.dumps(payload).encode())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    assert error["code"] and error["message"]
    assert fake_upstream.requests == []
    assert types_of(all_events(gateway)[before:]) == ["request.received", "request.failed"]


@pytest.mark.parametrize(
    "content",
    [
        b'{"model": "m", "messages": [{"role": "user", "content": "caf\xe9 \xff"}]}',
        _nested(200),
        _nested(990),
        _nested(100_000),
    ],
    ids=["invalid-utf8", "nested-200", "nested-990", "nested-100000"],
)
def test_an_unreadable_body_is_invalid_json(
    gateway: LiveGateway, fake_upstream: FakeUpstream, content: bytes
) -> None:
    response = _post(gateway, content)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"
    assert fake_upstream.requests == []


def test_unknown_fields_and_valid_values_pass_on_as_sent(
    gateway: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.text("ok")
    sent = body(
        temperature=0,
        top_p=1,
        max_tokens=1,
        presence_penalty=-2,
        frequency_penalty=2,
        tools=[TOOL],
        tool_choice={"type": "function", "function": {"name": "lookup"}},
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": {}}},
        stop="x",
        some_future_field={"deep": [1, {"x": None}]},
    )
    response = _post(gateway, json.dumps(sent).encode())
    assert response.status_code == 200, response.text
    upstream_body = fake_upstream.requests[0].body
    for key in ("some_future_field", "tool_choice", "response_format", "presence_penalty"):
        assert upstream_body[key] == sent[key]


@pytest.mark.parametrize(
    "query", ["/admin/events?after=1e21", "/admin/requests?before=99999999999999999999999"]
)
def test_huge_admin_positions_are_400(gateway: LiveGateway, query: str) -> None:
    response = httpx.get(gateway.url(query), headers=gateway.headers())
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_history_over_the_message_cap_is_a_400_before_any_work(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    gw = gateway_factory(upstream=fake_upstream, upstream_models=["m"], max_messages=100)
    fake_upstream.text("ok")
    at_cap = body(messages=[{"role": "user", "content": f"m{i}"} for i in range(100)])
    assert _post(gw, json.dumps(at_cap).encode()).status_code == 200
    over = body(messages=[{"role": "user", "content": f"m{i}"} for i in range(20_000)])
    response = _post(gw, json.dumps(over).encode())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("messages", "array_above_max_length")
    assert "100" in error["message"] and "20000" in error["message"]
    assert len(fake_upstream.requests) == 1
