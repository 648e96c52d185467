"""The upstream port's hot path: SSE framing, msgspec chunks, what is sent, how failures map.

Unit tests (in-process httpx2 transports): the request the gateway sends upstream, and every
upstream failure as the gateway error (and ``upstream.call_failed``) it becomes, once.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import msgspec
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.adapters.upstream import Deadlines, HttpUpstream, build_upstream
from app.adapters.upstream.sse import SSEFrames
from app.errors import GatewayError
from app.ports.chat_backend import Finish, TextDelta, ToolCallDelta, Usage
from app.ports.request_context import RequestContext
from app.ports.upstream import Upstream
from app.services.passthrough import upstream_hop
from app.services.upstream_payloads import decode_chunk
from app.settings import Settings
from domain.policy import Principal

MSG: list[dict[str, Any]] = [{"role": "user", "content": "Say hello"}]
BASE = "http://llm.test/v1"

# -- SSE framing ----------------------------------------------------------------------------

STREAM = (
    b": keep-alive comment\n\n"
    b'data: {"a":1}\n\n'
    b"event: message\r\nid: 7\r\n"
    b'data: {"b":\r\ndata: 2}\r\n\r\n'
    b'data:{"c":3}\r\r'
    b"data: [DONE]\n\n"
)
EVENTS = [b'{"a":1}', b'{"b":\n2}', b'{"c":3}', b"[DONE]"]


def test_frames_drop_comments_and_fields_and_join_data_lines() -> None:
    frames = SSEFrames()
    assert frames.feed(STREAM) + frames.close() == EVENTS


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_frames_are_the_same_however_the_bytes_are_split(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    frames = SSEFrames()
    events: list[bytes] = []
    for start, end in itertools.pairwise(points):
        events += frames.feed(STREAM[start:end])
    assert events + frames.close() == EVENTS


def test_an_unterminated_last_event_is_returned_at_the_end() -> None:
    frames = SSEFrames()
    assert frames.feed(b'data: {"x":1}\n\ndata: {"y"') == [b'{"x":1}']
    assert frames.feed(b":2}") == []
    assert frames.close() == [b'{"y":2}']
    assert frames.close() == []


def test_chunks_decode_only_what_the_gateway_reads() -> None:
    chunk = decode_chunk(
        b'{"id":"c","object":"chat.completion.chunk","future":{"x":[1]},"usage":null,'
        b'"choices":[{"index":0,"logprobs":null,"finish_reason":null,"delta":'
        b'{"role":"assistant","content":"Hi","tool_calls":[{"index":1,"id":"call_1",'
        b'"type":"function","function":{"name":"f","arguments":"{\\"a"}}]}}]}'
    )
    assert chunk.choices is not None and chunk.usage is None and chunk.error is None
    delta = chunk.choices[0].delta
    assert delta is not None and delta.content == "Hi" and delta.tool_calls is not None
    call = delta.tool_calls[0]
    assert call.function is not None
    assert (call.index, call.id, call.function.name, call.function.arguments) == (
        1,
        "call_1",
        "f",
        '{"a',
    )
    with pytest.raises(msgspec.DecodeError):
        decode_chunk(b'{"choices":[{"delta":{"content":5}}]}')
    with pytest.raises(msgspec.DecodeError):
        decode_chunk(b"{not json")


# -- one upstream hop through the scripted upstream -----------------------------------------


class ListRecorder:
    request_id = "req_1"

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def record(self, *events: Any) -> None:
        self.events.extend(events)


def _ctx() -> tuple[RequestContext, ListRecorder]:
    recorder = ListRecorder()
    ctx = RequestContext("req_1", Principal(key_id="k", name="k"), recorder)  # type: ignore[arg-type]
    return ctx, recorder


@pytest.fixture
async def scripted() -> AsyncIterator[Upstream]:
    up = build_upstream(Settings(upstream_models=("*",)))
    yield up
    await up.close()


@pytest.mark.parametrize("stream", [True, False])
async def test_scripted_text_answer_as_deltas_and_events(scripted: Upstream, stream: bool) -> None:
    ctx, recorder = _ctx()
    items = [
        item
        async for item in upstream_hop(
            scripted, ctx, hop=1, model="scripted", messages=MSG, extra={}, stream=stream
        )
    ]
    text = "".join(i.content for i in items if isinstance(i, TextDelta))
    assert text == "Scripted answer: Say hello"
    if stream:
        assert sum(isinstance(i, TextDelta) for i in items) == 3  # chunk by chunk
    assert items[-2:] == [Finish("stop"), Usage(2, 4)]
    started, completed = recorder.events
    assert started.TYPE == "upstream.call_started" and started.stream is stream
    assert completed.TYPE == "upstream.call_completed"
    assert (completed.finish_reason, completed.prompt_tokens, completed.completion_tokens) == (
        "stop",
        2,
        4,
    )


@pytest.mark.parametrize("stream", [True, False])
async def test_scripted_tool_call_as_deltas(scripted: Upstream, stream: bool) -> None:
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {}}}]
    ctx, _recorder = _ctx()
    items = [
        item
        async for item in upstream_hop(
            scripted,
            ctx,
            hop=1,
            model="scripted",
            messages=[{"role": "user", "content": "what time is it"}],
            extra={"tools": tools},
            stream=stream,
            client_tools=frozenset({"other"}),
        )
    ]
    calls = [i for i in items if isinstance(i, ToolCallDelta)]
    assert calls[0].name == "get_time" and (calls[0].id or "").startswith("call_")
    assert all(c.index == 0 and c.client is False for c in calls)
    assert "".join(c.arguments for c in calls) == "{}"
    assert Finish("tool_calls") in items


# -- what is sent, and how failures map ------------------------------------------------------


class Capture:
    """An httpx2 transport that records requests and answers with ``reply``."""

    def __init__(self, reply: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.requests: list[httpx2.Request] = []
        self.reply = reply

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.reply(request)

    def upstream(self) -> HttpUpstream:
        return HttpUpstream(
            base_url=BASE,
            api_key="sk-test-key",
            label="http://llm.test",
            models=("*",),
            deadlines=Deadlines(operation_s=7.0),
            transport=httpx2.MockTransport(self.handler),
        )

    def sdk_client(self) -> openai.AsyncOpenAI:
        transport = httpx2.MockTransport(self.handler)
        return openai.AsyncOpenAI(
            api_key="sk-test-key",
            base_url=BASE,
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=transport),
        )


def _ok(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=b"data: [DONE]\n\n"
    )


async def test_the_request_sent_is_the_one_the_sdk_would_send() -> None:
    """Same method, URL, credentials and JSON body as ``chat.completions.create``; the SDK's
    own ``X-Stainless-*`` telemetry headers are no longer sent (we build the request)."""
    capture = Capture(_ok)
    extra = {"temperature": 0.5, "some_future_field": {"x": [1, None]}}
    sdk_stream = await capture.sdk_client().chat.completions.create(
        model="m",
        messages=MSG,  # type: ignore[arg-type]
        stream=True,
        extra_body={**extra, "stream_options": {"include_usage": True}},
    )
    await sdk_stream.close()
    ctx, _recorder = _ctx()
    upstream = capture.upstream()
    with pytest.raises(GatewayError):  # no finish_reason: the answer is unfinished
        async for _item in upstream_hop(
            upstream, ctx, hop=1, model="m", messages=MSG, extra=extra, stream=True
        ):
            pass
    await upstream.close()
    sdk, ours = capture.requests
    assert (ours.method, ours.url) == (sdk.method, sdk.url)
    for name in ("authorization", "content-type"):
        assert ours.headers[name] == sdk.headers[name]
    assert ours.headers["authorization"] == "Bearer sk-test-key"
    assert msgspec.json.decode(ours.content) == msgspec.json.decode(sdk.content)
    assert ours.extensions["timeout"] == httpx2.Timeout(7.0).as_dict()


def _sse(*frames: bytes) -> Callable[[httpx2.Request], httpx2.Response]:
    return lambda _r: httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=b"".join(frames)
    )


class _Cut(httpx2.AsyncByteStream):
    def __init__(self, first: bytes) -> None:
        self.first = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        raise httpx2.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )


def _error(status: int, body: Any) -> Callable[[httpx2.Request], httpx2.Response]:
    return lambda _r: httpx2.Response(status, json=body)


def _raise(exc: Exception) -> Callable[[httpx2.Request], httpx2.Response]:
    def reply(_r: httpx2.Request) -> httpx2.Response:
        raise exc

    return reply


JSON = {"content-type": "application/json"}
CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
BAD = "The upstream sent a malformed response."
# (name, stream, reply, (status, code, message), recorded upstream status). The same table as
# the ``openai`` SDK's own parsing gave before the port replaced it.
FAULTS: list[tuple[str, bool, Callable[[httpx2.Request], httpx2.Response], Any, int]] = [
    (
        "bad_request",
        False,
        _error(400, {"error": {"message": "bad temperature", "code": "x"}}),
        (400, "x", "bad temperature"),
        400,
    ),
    (
        "rate_limited",
        True,
        _error(429, {"error": {"message": "slow down sk-abcdefgh123"}}),
        (429, "rate_limit_exceeded", "slow down [redacted]"),
        429,
    ),
    (
        "unauthorized",
        True,
        _error(401, {"error": {"message": "Incorrect API key"}}),
        (502, "upstream_status_401", "The upstream failed with status 401."),
        401,
    ),
    (
        "server_error",
        False,
        _error(500, "oops"),
        (502, "upstream_status_500", "The upstream failed with status 500."),
        500,
    ),
    (
        "timeout",
        True,
        _raise(httpx2.ReadTimeout("slow")),
        (504, "upstream_timeout", "The upstream did not answer in time."),
        504,
    ),
    (
        "refused",
        False,
        _raise(httpx2.ConnectError("refused")),
        (502, "upstream_unavailable", "The upstream could not be reached."),
        502,
    ),
    (
        "no_response",
        True,
        _raise(httpx2.RemoteProtocolError("Server disconnected")),
        (502, "upstream_unavailable", "The upstream could not be reached."),
        502,
    ),
    (
        "malformed_body",
        False,
        lambda _r: httpx2.Response(200, headers=JSON, content=b'{"ch'),
        (502, "upstream_bad_response", BAD),
        502,
    ),
    (
        "malformed_frame",
        True,
        _sse(CHUNK, b"data: {not json\n\n"),
        (502, "upstream_bad_response", BAD),
        502,
    ),
    (
        "error_event",
        True,
        _sse(CHUNK, b'data: {"error":{"message":"overloaded"}}\n\n'),
        (502, "upstream_error", "The upstream call failed."),
        502,
    ),
    (
        "cut",
        True,
        lambda _r: httpx2.Response(200, stream=_Cut(CHUNK)),
        (502, "upstream_stream_broken", "The upstream closed the stream before it finished."),
        502,
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f[0] for f in FAULTS])
async def test_failures_map_once_to_gateway_errors_and_are_recorded(fault: Any) -> None:
    _name, stream, reply, expected, upstream_status = fault
    upstream = Capture(reply).upstream()
    ctx, recorder = _ctx()
    with pytest.raises(GatewayError) as info:
        async for _item in upstream_hop(
            upstream, ctx, hop=1, model="m", messages=MSG, extra={}, stream=stream
        ):
            pass
    await upstream.close()
    error = info.value
    assert (error.status, error.code, error.message) == expected
    assert "sk-abcdefgh" not in error.message
    started, failed = recorder.events
    assert started.TYPE == "upstream.call_started"
    assert failed.TYPE == "upstream.call_failed"
    assert (failed.error_type, failed.message, failed.status) == (
        error.code,
        error.message,
        upstream_status,
    )
