"""The gateway's upstream boundary end to end: proxies from the environment, and deadlines.

A real gateway (uvicorn on loopback) calls the fake upstream. With ``HTTP_PROXY`` (or
``ALL_PROXY``) pointing at a recording proxy on loopback the call goes through the proxy, with
the default transport (httpx2's stock one) and with ``fast``; with the upstream in ``NO_PROXY``,
or only ``HTTPS_PROXY`` set for this ``http://`` upstream, it does not. The startup log line
names the transport used and why. An upstream that trickles bytes gets a 504 once the idle
deadline passes, recorded as ``upstream.call_failed``.
"""

from __future__ import annotations

import json
import logging
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
    """A started recording proxy, in an environment that names no proxy (tests name it).

    httpx2 (like urllib) reads both spellings of each variable; none may leak in from the
    machine running the tests (a ``NO_PROXY`` with ``127.0.0.1`` would bypass the proxy).
    """
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    recording = RecordingProxy().start()
    try:
        yield recording
    finally:
        recording.stop()


@pytest.fixture
def transport_lines() -> Iterator[list[str]]:
    """The ``upstream transport: …`` lines the gateway logs while it starts."""
    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("upstream transport:"):
                lines.append(record.getMessage())

    logger = logging.getLogger("app.adapters.upstream")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _gateway(
    factory: Callable[..., LiveGateway], upstream: FakeUpstream, transport: str | None
) -> LiveGateway:
    """A gateway on ``upstream``; ``transport`` None leaves the setting at its default."""
    if transport is None:
        return factory(upstream=upstream)
    return factory(upstream=upstream, upstream_transport=transport)


def _proxied(proxy: RecordingProxy, upstream: FakeUpstream) -> list[str]:
    # (The test's own calls to the gateway may go through the proxy too: they are not counted.)
    return [r for r in proxy.requests if upstream.base_url in r]


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


def test_the_default_transport_is_httpx2s_stock_one(
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    proxy: RecordingProxy,
    transport_lines: list[str],
) -> None:
    # (``proxy`` only for its environment, which names no proxy.)
    gw = gateway_factory(upstream=fake_upstream)
    assert transport_lines == [
        "upstream transport: httpx2's stock (LEDGERGATE_UPSTREAM_TRANSPORT=stock, the default)"
    ]
    assert _ask(gw).status_code == 200
    assert len(fake_upstream.requests) == 1


# With ``fast``: the stock transport when the environment names a proxy for http://, else fast.
FAST_LINES = {
    True: "upstream transport: httpx2's stock, not fast (LEDGERGATE_UPSTREAM_TRANSPORT=fast): "
    "the environment names a proxy for http://, which httpx2 applies (or skips, by NO_PROXY) "
    "itself",
    False: "upstream transport: fast, asyncio + httptools (LEDGERGATE_UPSTREAM_TRANSPORT=fast, "
    "no proxy for http://)",
}


# HTTPS_PROXY is for https:// upstreams only: the fake is http://.
@pytest.mark.parametrize(
    ("variable", "proxied"), [("HTTP_PROXY", True), ("ALL_PROXY", True), ("HTTPS_PROXY", False)]
)
@pytest.mark.parametrize("transport", [None, "fast"])
def test_the_upstream_call_goes_through_the_proxy_named_for_its_scheme(
    *,
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    proxy: RecordingProxy,
    monkeypatch: pytest.MonkeyPatch,
    transport_lines: list[str],
    transport: str | None,
    variable: str,
    proxied: bool,
) -> None:
    monkeypatch.setenv(variable, proxy.url)
    gw = _gateway(gateway_factory, fake_upstream, transport)
    fake_upstream.text("one answer")
    response = _ask(gw, stream=True)
    assert response.status_code == 200
    assert _streamed_text(response) == "one answer"
    calls = [f"POST {fake_upstream.base_url}/chat/completions"]
    assert _proxied(proxy, fake_upstream) == (calls if proxied else [])
    assert len(fake_upstream.requests) == 1
    if transport == "fast":
        assert transport_lines == [FAST_LINES[proxied]]


@pytest.mark.parametrize("transport", [None, "fast"])
def test_an_upstream_in_no_proxy_is_called_directly(
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    proxy: RecordingProxy,
    monkeypatch: pytest.MonkeyPatch,
    transport: str | None,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    gw = _gateway(gateway_factory, fake_upstream, transport)
    response = _ask(gw)
    assert response.status_code == 200
    assert _proxied(proxy, fake_upstream) == []
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
