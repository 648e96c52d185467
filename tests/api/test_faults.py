"""Upstream faults and bad input: OpenAI-style errors, the right events, the gateway stays up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from tests.api.conftest import all_events, data, events_of, types_of
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.live_server import LiveGateway
from tests.support.serve import free_port

MSG = [{"role": "user", "content": "hi"}]


def _closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def _assert_failed(gw: LiveGateway, request_id: str, status: int) -> dict[str, Any]:
    events = events_of(gw, request_id)
    kinds = types_of(events)
    assert kinds[-1] == "request.failed" and kinds.count("request.failed") == 1
    assert "upstream.call_failed" in kinds
    failed = data(events[-1])
    assert failed["status"] == status
    assert httpx.get(gw.url("/healthz")).status_code == 200
    return failed


FAULTS: list[tuple[str, Callable[[FakeUpstream], None], int]] = [
    ("server_error", lambda f: f.error(500, "boom", type="server_error"), 502),
    ("bad_request", lambda f: f.error(400, "bad temperature", code="invalid_value"), 400),
    ("rate_limited", lambda f: f.error(429, "slow down", type="rate_limit_error"), 429),
    ("timeout", lambda f: f.hang(), 504),
    ("cut", lambda f: f.cut(after=0), 502),
    ("malformed", lambda f: f.malformed(after=0), 502),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f[0] for f in FAULTS])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_fault_before_the_first_delta_is_a_real_status(
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    fault: tuple[str, Callable[[FakeUpstream], None], int],
    stream: bool,
) -> None:
    _name, script, status = fault
    script(fake_upstream)
    gw = gateway_factory(upstream=fake_upstream, upstream_timeout_s=0.5)
    body = {"model": "m", "messages": MSG, "stream": stream}
    response = httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    _assert_failed(gw, response.headers["x-request-id"], status)


def test_connection_refused(gateway_factory: Callable[..., LiveGateway]) -> None:
    gw = gateway_factory(upstream_base_url=_closed_port_url(), upstream_api_key="sk-unused")
    client = openai.OpenAI(base_url=gw.url("/v1"), api_key=gw.master_key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="m", messages=MSG)  # type: ignore[arg-type]
    assert err.value.status_code == 502
    failed = _assert_failed(gw, err.value.response.headers["x-request-id"], 502)
    assert failed["code"] == "upstream_unavailable"


@pytest.mark.parametrize("fault", ["cut", "malformed"])
def test_fault_mid_stream_is_an_sse_error_then_done(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream, fault: str
) -> None:
    fake_upstream.push(Reply(fault, text="one two three four", chunks=4, after=3))
    gw = gateway_factory(upstream=fake_upstream)
    body = {"model": "m", "messages": MSG, "stream": True}
    response = httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers())
    assert response.status_code == 200
    frames = [f for f in response.content.split(b"\n\n") if f]
    assert frames[-1] == b"data: [DONE]"
    assert frames[-2].startswith(b'data: {"error":{')
    assert b'"content":"one' in response.content  # what came before the fault was streamed
    _assert_failed(gw, response.headers["x-request-id"], 502)
    # ... and the openai client raises on that error event.
    fake_upstream.push(Reply(fault, text="one two three four", chunks=4, after=3))
    client = openai.OpenAI(base_url=gw.url("/v1"), api_key=gw.master_key, max_retries=0)
    stream = client.chat.completions.create(model="m", messages=MSG, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        for _chunk in stream:
            pass


BAD: list[tuple[str, bytes, int, bool]] = [
    ("malformed_json", b'{"model": "m", "messages": [', 400, False),
    ("not_an_object", b"[1, 2]", 400, False),
    ("wrong_type", b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', 400, True),
    ("bad_role", b'{"model": "m", "messages": [{"role": "robot", "content": "x"}]}', 400, True),
    ("missing_messages", b'{"model": "m"}', 400, True),
    ("empty_messages", b'{"model": "m", "messages": []}', 400, True),
    (
        "unknown_model",
        b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}',
        404,
        True,
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_input(
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    case: tuple[str, bytes, int, bool],
) -> None:
    _name, body, status, recorded = case
    gw = gateway_factory(upstream=fake_upstream, upstream_models=["gpt-*", "m"])
    before = len(all_events(gw))
    headers = {**gw.headers(), "content-type": "application/json"}
    response = httpx.post(gw.url("/v1/chat/completions"), content=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and "Traceback" not in response.text
    new = all_events(gw)[before:]
    if recorded:
        assert types_of(new) == ["request.received", "request.failed"]
        assert data(new[-1])["status"] == status
    else:
        assert new == []
    assert fake_upstream.requests == []


def test_oversized_body_is_413_and_never_recorded(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    gw = gateway_factory(upstream=fake_upstream, max_body_bytes=2048)
    before = len(all_events(gw))
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 4096}]}
    response = httpx.post(gw.url("/v1/chat/completions"), json=big, headers=gw.headers())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"

    def chunks() -> Any:  # no content-length: the limit holds on the bytes actually read
        yield b'{"model": "m", "messages": [{"role": "user", "content": "'
        yield b"y" * 4096
        yield b'"}]}'

    response = httpx.post(gw.url("/v1/chat/completions"), content=chunks(), headers=gw.headers())
    assert response.status_code == 413
    assert len(all_events(gw)) == before
