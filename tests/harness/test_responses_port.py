"""A Responses API call (``POST {base}/responses``) through the upstream port and its recorder.

What a Responses-API helper builds on: the same ``send`` and ``recorded_call`` as Chat
Completions, typed events out, one ``upstream.call_*`` pair recorded with the usage of
``response.completed``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from app.adapters.upstream import Deadlines, HttpUpstream
from app.errors import GatewayError
from app.ports.upstream import UpstreamCall
from app.services.upstream_calls import CallTally, recorded_call
from app.services.upstream_payloads import Response, ResponseStreamEvent

COMPLETED = {
    "type": "response.completed",
    "response": {
        "id": "resp_1",
        "status": "completed",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}],
        "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
    },
}
EVENTS = [
    {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
    {"type": "response.output_text.delta", "delta": "Hi", "output_index": 0},
    COMPLETED,
]


class Recorder:
    request_id = "req_1"

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def record(self, *events: Any) -> None:
        self.events.extend(events)


def _upstream(reply: httpx2.Response, seen: list[httpx2.Request]) -> HttpUpstream:
    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return reply

    return HttpUpstream(
        base_url="http://llm.test/v1",
        api_key="sk-test",
        label="http://llm.test",
        models=("*",),
        deadlines=Deadlines(),
        transport=httpx2.MockTransport(handler),
    )


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


async def test_a_streamed_responses_call_yields_typed_events_and_is_recorded() -> None:
    seen: list[httpx2.Request] = []
    reply = httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=_sse(EVENTS)
    )
    upstream = _upstream(reply, seen)
    recorder = Recorder()
    tally = CallTally()
    call = UpstreamCall(api="responses", body={"model": "m", "input": "hi", "stream": True})
    got = [p async for _d, p in recorded_call(upstream, recorder, call, hop=1, tally=tally)]  # type: ignore[arg-type]
    await upstream.close()
    assert str(seen[0].url) == "http://llm.test/v1/responses"
    assert all(isinstance(p, ResponseStreamEvent) for p in got)
    assert [p.type for p in got if isinstance(p, ResponseStreamEvent)] == [
        e["type"] for e in EVENTS
    ]
    started, completed = recorder.events
    assert (started.TYPE, started.stream, started.model) == ("upstream.call_started", True, "m")
    assert completed.TYPE == "upstream.call_completed"
    assert (completed.finish_reason, completed.prompt_tokens, completed.completion_tokens) == (
        "stop",
        5,
        2,
    )


async def test_a_non_streamed_response_with_a_function_call_finishes_with_tool_calls() -> None:
    body = {
        "id": "resp_2",
        "status": "completed",
        "output": [{"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c"}],
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    upstream = _upstream(httpx2.Response(200, json=body), [])
    recorder = Recorder()
    call = UpstreamCall(api="responses", body={"model": "m", "input": "hi"})
    got = [p async for _d, p in recorded_call(upstream, recorder, call, hop=2)]  # type: ignore[arg-type]
    await upstream.close()
    assert len(got) == 1 and isinstance(got[0], Response)
    assert recorder.events[-1].finish_reason == "tool_calls"


async def test_a_stream_without_response_completed_is_broken_and_recorded() -> None:
    reply = httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=_sse(EVENTS[:2])
    )
    upstream = _upstream(reply, [])
    recorder = Recorder()
    call = UpstreamCall(api="responses", body={"model": "m", "input": "hi", "stream": True})
    with pytest.raises(GatewayError) as info:
        async for _item in recorded_call(upstream, recorder, call, hop=1):  # type: ignore[arg-type]
            pass
    await upstream.close()
    assert info.value.code == "upstream_stream_broken"
    assert recorder.events[-1].TYPE == "upstream.call_failed"
