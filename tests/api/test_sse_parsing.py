"""The raw upstream hot path: SSE framing, msgspec chunks, and parity with the ``openai`` SDK.

Unit tests (in-process httpx2 transports): the bytes the gateway sends upstream are the ones
``chat.completions.create`` would send, and every upstream failure becomes the same gateway
error as it did through the SDK's own parsing.
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

from app.adapters import passthrough
from app.adapters.passthrough import upstream_hop
from app.adapters.upstream import Upstream, build_upstream, translate, wire
from app.adapters.upstream.sse import SSEFrames, decode_chunk
from app.context import RequestContext
from app.errors import GatewayError
from app.services.backends import Finish, TextDelta, ToolCallDelta, Usage
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
    assert translate(_raised(decode_chunk, b"{not json")).code == "upstream_bad_response"


def _raised(fn: Callable[[bytes], Any], arg: bytes) -> BaseException:
    try:
        fn(arg)
    except Exception as exc:
        return exc
    raise AssertionError("no error")


# -- one upstream hop through the scripted upstream -----------------------------------------


class ListRecorder:
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
            scripted, ctx, hop=1, model="m", messages=MSG, extra={}, stream=stream
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
            model="m",
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


# -- parity with the SDK: what is sent, and how failures map ---------------------------------


class Capture:
    """An httpx2 transport that records requests and answers with ``reply``."""

    def __init__(self, reply: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.requests: list[httpx2.Request] = []
        self.reply = reply

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.reply(request)

    def client(self) -> openai.AsyncOpenAI:
        transport = httpx2.MockTransport(self.handler)
        return openai.AsyncOpenAI(
            api_key="sk-test-key",
            base_url=BASE,
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=transport),
        )


def _ok(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, json={"choices": []})


async def test_the_request_sent_is_the_one_the_sdk_sends() -> None:
    capture = Capture(_ok)
    client = capture.client()
    extra = {"temperature": 0.5, "some_future_field": {"x": [1, None]}}
    sdk_stream = await client.chat.completions.create(
        model="m",
        messages=MSG,  # type: ignore[arg-type]
        stream=True,
        extra_body={**extra, "stream_options": {"include_usage": True}},
    )
    await sdk_stream.close()
    body = {"messages": MSG, "model": "m", "stream": True, **extra}
    body["stream_options"] = {"include_usage": True}
    response = await wire.send(client, body)
    await response.aclose()
    sdk, ours = capture.requests
    assert (ours.method, ours.url) == (sdk.method, sdk.url)
    assert dict(ours.headers) == dict(sdk.headers)
    assert ours.headers["authorization"] == "Bearer sk-test-key"
    assert msgspec.json.decode(ours.content) == msgspec.json.decode(sdk.content)
    assert ours.extensions["timeout"] == sdk.extensions["timeout"]


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
FAULTS: list[tuple[str, bool, Callable[[httpx2.Request], httpx2.Response]]] = [
    ("bad_request", False, _error(400, {"error": {"message": "bad temperature", "code": "x"}})),
    ("rate_limited", True, _error(429, {"error": {"message": "slow down sk-abcdefgh123"}})),
    ("unauthorized", True, _error(401, {"error": {"message": "Incorrect API key"}})),
    ("server_error", False, _error(500, "oops")),
    ("timeout", True, _raise(httpx2.ReadTimeout("slow"))),
    ("refused", False, _raise(httpx2.ConnectError("refused"))),
    ("no_response", True, _raise(httpx2.RemoteProtocolError("Server disconnected"))),
    ("malformed_body", False, lambda _r: httpx2.Response(200, headers=JSON, content=b'{"ch')),
    ("malformed_frame", True, _sse(CHUNK, b"data: {not json\n\n")),
    ("error_event", True, _sse(CHUNK, b'data: {"error":{"message":"overloaded"}}\n\n')),
    ("cut", True, lambda _r: httpx2.Response(200, stream=_Cut(CHUNK))),
]


async def _sdk_failure(client: openai.AsyncOpenAI, stream: bool) -> GatewayError:
    try:
        if stream:
            response = await client.chat.completions.create(
                model="m",
                messages=MSG,  # type: ignore[arg-type]
                stream=True,
            )
            async for _chunk in response:
                pass
        else:
            await client.chat.completions.create(model="m", messages=MSG)  # type: ignore[arg-type]
    except Exception as exc:
        return translate(exc)
    raise AssertionError("the SDK did not fail")


async def _our_failure(client: openai.AsyncOpenAI, stream: bool) -> GatewayError:
    upstream = Upstream(client, "test", False, ("*",))
    hop = passthrough._Hop(upstream, "m", MSG, {}, None)
    try:
        async for _item in passthrough._streamed(hop) if stream else passthrough._whole(hop):
            pass
    except Exception as exc:
        return translate(exc)
    raise AssertionError("the raw path did not fail")


@pytest.mark.parametrize("fault", FAULTS, ids=[f[0] for f in FAULTS])
async def test_failures_map_as_they_did_through_the_sdk(
    fault: tuple[str, bool, Callable[[httpx2.Request], httpx2.Response]],
) -> None:
    _name, stream, reply = fault
    client = Capture(reply).client()
    sdk = await _sdk_failure(client, stream)
    ours = await _our_failure(client, stream)
    assert (ours.status, ours.code, ours.message, ours.param) == (
        sdk.status,
        sdk.code,
        sdk.message,
        sdk.param,
    )
    assert ours.status >= 400 and "sk-abcdefgh" not in ours.message
