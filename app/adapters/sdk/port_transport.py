"""The Agents SDK's model calls, routed through the gateway's upstream port.

The SDK's ``OpenAIChatCompletionsModel`` needs an ``AsyncOpenAI`` client; each request's client
gets this httpx2 transport, which hands every request the SDK makes (``POST …/chat/completions``
or ``POST …/responses``) to ``upstream_calls.recorded_call``, the one place that calls the
upstream and records ``upstream.call_*``, and answers with the upstream's events re-framed as
SSE (or its JSON body). Nothing leaves the process from here; the port does the HTTP. A
failure raises the port's ``GatewayError``, which the ``openai`` client passes on unwrapped.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing

import httpx2
import msgspec

from app.errors import BadRequest
from app.ports.recorder import Recorder
from app.ports.upstream import PATHS, Api, Upstream, UpstreamCall
from app.services.upstream_calls import CallTally, Payload, recorded_call

_SSE_HEADERS = [(b"content-type", b"text/event-stream")]
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _api_of(path: str) -> Api | None:
    for api, suffix in PATHS.items():
        if path.endswith(suffix):
            return api
    return None


class _Events(httpx2.AsyncByteStream):
    """The rest of one recorded call, as the bytes of an HTTP response body."""

    def __init__(
        self,
        first: tuple[bytes, Payload] | None,
        rest: AsyncGenerator[tuple[bytes, Payload], None],
        stream: bool,
        done: Callable[[], None],
    ) -> None:
        self.first = first
        self.rest = rest
        self.stream = stream
        self.done = done
        self.finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # One pass only: the ``openai`` client iterates a stream again to drain it.
        first, self.first = self.first, None
        if self.finished:
            return
        async with aclosing(self.rest) as rest:
            if first is not None:
                yield self._frame(first[0])
            async for data, _payload in rest:
                yield self._frame(data)
        self.finished = True
        self.done()
        if self.stream:
            yield b"data: [DONE]\n\n"

    def _frame(self, data: bytes) -> bytes:
        return b"data: " + data + b"\n\n" if self.stream else data

    async def aclose(self) -> None:
        await self.rest.aclose()


class PortTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that answers from ``upstream`` and records each call as a hop."""

    def __init__(
        self,
        upstream: Upstream,
        recorder: Recorder,
        next_hop: Callable[[], int],
        on_done: Callable[[UpstreamCall, CallTally], None],
    ) -> None:
        self.upstream = upstream
        self.recorder = recorder
        self.next_hop = next_hop
        self.on_done = on_done

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        api = _api_of(request.url.path)
        if request.method != "POST" or api is None:
            raise BadRequest(f"The gateway does not relay {request.method} {request.url.path}.")
        try:
            body = msgspec.json.decode(await request.aread())
        except msgspec.DecodeError as exc:
            raise BadRequest("The agent's model request is not JSON.") from exc
        call = UpstreamCall(api=api, body=body)
        tally = CallTally()
        events = recorded_call(
            self.upstream,
            self.recorder,
            call,
            hop=self.next_hop(),
            tally=tally,
            record_cancel=False,  # see recorded_call: the run is cancelled after the request ends
        )
        # The first event (or the failure) before the headers: errors stay real exceptions.
        first = await anext(events, None)
        stream = _Events(first, events, call.stream, lambda: self.on_done(call, tally))
        headers = _SSE_HEADERS if call.stream else _JSON_HEADERS
        return httpx2.Response(200, headers=headers, stream=stream, request=request)
