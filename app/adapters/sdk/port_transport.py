"""The Agents SDK's model calls, routed through the gateway's upstream port.

The SDK's ``OpenAIChatCompletionsModel`` needs an ``AsyncOpenAI`` client; each request's client
gets this httpx2 transport, which hands every request the SDK makes (``POST …/chat/completions``
or ``POST …/responses``) to a ``ModelCaller`` and answers with the upstream's events re-framed
as SSE (or its JSON body). In the gateway's process the caller is ``LocalCaller``:
``upstream_calls.recorded_call``, the one place that calls the upstream and records
``upstream.call_*``. In a drop-in's worker process it is the worker's link to the gateway,
which makes the same ``recorded_call`` there. Nothing leaves the process from here. A failure
raises the port's ``GatewayError``, which the ``openai`` client passes on unwrapped.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Protocol

import httpx2
import msgspec

from app.errors import BadRequest
from app.ports.recorder import Recorder
from app.ports.upstream import PATHS, Api, Upstream, UpstreamCall
from app.services.upstream_calls import CallTally, recorded_call

_SSE_HEADERS = [(b"content-type", b"text/event-stream")]
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _api_of(path: str) -> Api | None:
    for api, suffix in PATHS.items():
        if path.endswith(suffix):
            return api
    return None


class ModelCaller(Protocol):
    """Makes one upstream call for a run: its events' ``data`` in order; fills ``tally``."""

    label: str  # the upstream's label: the settings rules depend on it

    def open(
        self,
        call: UpstreamCall,
        tally: CallTally,
        recorder: Recorder,
        hop: Callable[[], int],
    ) -> AsyncGenerator[bytes, None]: ...


class LocalCaller:
    """The upstream port, called from this process with ``recorded_call``."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.label = upstream.label

    async def open(
        self,
        call: UpstreamCall,
        tally: CallTally,
        recorder: Recorder,
        hop: Callable[[], int],
    ) -> AsyncGenerator[bytes, None]:
        events = recorded_call(
            self.upstream,
            recorder,
            call,
            hop=hop(),
            tally=tally,
            record_cancel=False,  # see recorded_call: the run is cancelled after the request ends
        )
        async with aclosing(events):
            async for data, _payload in events:
                yield data


class _Events(httpx2.AsyncByteStream):
    """The rest of one recorded call, as the bytes of an HTTP response body."""

    def __init__(
        self,
        first: bytes | None,
        rest: AsyncGenerator[bytes, None],
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
                yield self._frame(first)
            async for data in rest:
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
    """An httpx2 transport that answers from ``caller``; each call is one hop of the request."""

    def __init__(
        self,
        caller: ModelCaller,
        recorder: Recorder,
        next_hop: Callable[[], int],
        on_done: Callable[[UpstreamCall, CallTally], None],
    ) -> None:
        self.caller = caller
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
        events = self.caller.open(call, tally, self.recorder, self.next_hop)
        # The first event (or the failure) before the headers: errors stay real exceptions.
        first = await anext(events, None)
        stream = _Events(first, events, call.stream, lambda: self.on_done(call, tally))
        headers = _SSE_HEADERS if call.stream else _JSON_HEADERS
        return httpx2.Response(200, headers=headers, stream=stream, request=request)
