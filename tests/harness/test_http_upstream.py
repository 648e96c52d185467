"""``HttpUpstream`` against the fake upstream on loopback: the idle and overall deadlines.

An upstream that trickles bytes or keep-alive comments resets httpx2's per-read timeout
forever; the idle deadline counts from the last complete event, the overall one from the
start of the call. Each failure is the port's ``UpstreamTimeout``, and the connection is closed
(the fake sees its client leave).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
import pytest

from app.adapters.upstream import Deadlines, HttpUpstream
from app.errors import UpstreamTimeout
from app.ports.upstream import UpstreamCall
from tests.support.fake_upstream import FakeUpstream

IDLE = "The upstream sent nothing for 0.4 s."
TOTAL = "The upstream did not finish within 1.2 s."


def _port(fake: FakeUpstream) -> HttpUpstream:
    # httpx2's own per-read timeout is far away: only our deadlines can end these calls.
    return HttpUpstream(
        base_url=fake.base_url,
        api_key="sk-test",
        label="fake",
        models=("*",),
        deadlines=Deadlines(operation_s=30.0, idle_s=0.4, total_s=1.2),
    )


async def _fail(fake: FakeUpstream, *, stream: bool) -> tuple[UpstreamTimeout, int]:
    up = _port(fake)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    events = 0
    try:
        with pytest.raises(UpstreamTimeout) as info:
            async for _data in up.send(UpstreamCall(body=body)):
                events += 1
    finally:
        await up.close()
    assert await fake.await_outcome(0) == "client_closed"
    return info.value, events


@pytest.mark.parametrize("stream", [True, False])
async def test_trickled_bytes_hit_the_idle_deadline(fake_upstream: FakeUpstream, stream: bool):
    fake_upstream.trickle("trickle")
    error, events = await _fail(fake_upstream, stream=stream)
    assert (error.status, error.code, error.message, events) == (504, "upstream_timeout", IDLE, 0)


async def test_keep_alive_comments_hit_the_idle_deadline(fake_upstream: FakeUpstream) -> None:
    fake_upstream.trickle("keepalive")
    error, events = await _fail(fake_upstream, stream=True)
    assert (error.message, events) == (IDLE, 0)


async def test_steady_events_hit_the_overall_deadline(fake_upstream: FakeUpstream) -> None:
    fake_upstream.trickle("steady", every=0.05)
    error, events = await _fail(fake_upstream, stream=True)
    assert error.message == TOTAL
    assert events > 1  # events kept arriving, each within the idle deadline


class _DoneThenSilence(httpx2.AsyncByteStream):
    """A complete answer, then the body stays open (keep-alives, then nothing)."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}\n\n'
        yield b"data: [DONE]\n\n"
        yield b": keep-alive\n\n"
        await asyncio.Event().wait()
        yield b""


async def test_a_body_kept_open_after_done_does_not_fail_the_call() -> None:
    def reply(_request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, stream=_DoneThenSilence())

    up = HttpUpstream(
        base_url="http://llm.test/v1",
        api_key="sk-test",
        label="test",
        models=("*",),
        deadlines=Deadlines(operation_s=30.0, idle_s=0.3, total_s=30.0),
        transport=httpx2.MockTransport(reply),
    )
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    try:
        events = [data async for data in up.send(UpstreamCall(body=body))]
    finally:
        await up.close()
    assert len(events) == 1 and b'"finish_reason":"stop"' in events[0]
