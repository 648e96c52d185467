"""The gateway's upstream boundary end to end: proxies from the environment, and deadlines.

A real gateway (uvicorn on loopback) calls the fake upstream. With ``HTTP_PROXY`` pointing at a
recording proxy on loopback the call goes through the proxy, with either transport setting;
with the upstream in ``NO_PROXY`` it does not. An upstream that trickles bytes gets a 504 once
the idle deadline passes, recorded as ``upstream.call_failed``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.api.conftest import data, events_of, types_of
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway
from tests.support.recording_proxy import RecordingProxy

MSG = [{"role": "user", "content": "hi"}]
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    """A started recording proxy, and an environment that names it and nothing else.

    httpx2 (like urllib) reads both spellings of each variable; none may leak in from the
    machine running the tests (a ``NO_PROXY`` with ``127.0.0.1`` would bypass the proxy).
    """
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    recording = RecordingProxy().start()
    monkeypatch.setenv("HTTP_PROXY", recording.url)
    try:
        yield recording
    finally:
        recording.stop()


def _ask(gw: LiveGateway, *, stream: bool = False) -> httpx.Response:
    body = {"model": "m", "messages": MSG, "stream": stream}
    return httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers(), timeout=30)


def _streamed_text(response: httpx.Response) -> str:
    text = []
    for frame in response.content.split(b"\n\n"):
        if frame.startswith(b"data: {"):
            for choice in json.loads(frame[6:])["choices"]:
                text.append(choice["delta"].get("content") or "")
    return "".join(text)


@pytest.mark.parametrize("transport", ["httpx", "fast"])
def test_the_upstream_call_goes_through_the_proxy_from_the_environment(
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    proxy: RecordingProxy,
    transport: str,
) -> None:
    gw = gateway_factory(upstream=fake_upstream, upstream_transport=transport)
    fake_upstream.text("through the proxy")
    response = _ask(gw, stream=True)
    assert response.status_code == 200
    assert _streamed_text(response) == "through the proxy"
    # (The test's own calls to the gateway go through the proxy too: they are not counted.)
    upstream_calls = [r for r in proxy.requests if fake_upstream.base_url in r]
    assert upstream_calls == [f"POST {fake_upstream.base_url}/chat/completions"]
    assert len(fake_upstream.requests) == 1


def test_an_upstream_in_no_proxy_is_called_directly(
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    proxy: RecordingProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    gw = gateway_factory(upstream=fake_upstream)
    response = _ask(gw)
    assert response.status_code == 200
    assert [r for r in proxy.requests if fake_upstream.base_url in r] == []
    assert len(fake_upstream.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_a_trickling_upstream_is_a_504_after_the_idle_deadline(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream, stream: bool
) -> None:
    gw = gateway_factory(upstream=fake_upstream, upstream_idle_timeout_s=0.4)
    fake_upstream.trickle("trickle")
    response = _ask(gw, stream=stream)
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (
        "upstream_timeout",
        "The upstream sent nothing for 0.4 s.",
    )
    events = events_of(gw, response.headers["x-request-id"])
    failed = [data(e) for e in events if e.type == "upstream.call_failed"]
    assert [(f["error_type"], f["status"]) for f in failed] == [("upstream_timeout", 504)]
    assert types_of(events)[-1] == "request.failed"
    assert fake_upstream.wait_outcome(0) == "client_closed"
