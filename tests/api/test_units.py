"""Unit tests: golden SSE bytes, request validation, agent.toml, interrupted requests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from app.adapters.declarative import load_declarative, parse_agent_toml
from app.adapters.eventstore import InMemoryEventStore
from app.adapters.upstream import build_upstream
from app.api.request import validate
from app.api.wire import DONE, ChunkFramer, decode_body, error_event
from app.errors import BadRequest, UpstreamError
from app.ids import uuid7
from app.services.agents import DropinError
from app.services.interrupted import mark_interrupted
from app.settings import Settings
from domain.events import RequestCompleted, RequestReceived
from domain.ports import NewEvent
from tests.support.live_server import LiveGateway

ROOT = Path(__file__).resolve().parents[2]


def test_golden_sse_bytes() -> None:
    framer = ChunkFramer("chatcmpl-1", 1700000000, "m\u00e9", include_usage=True)
    assert framer.choice({"role": "assistant", "content": ""}) == (
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,'
        b'"model":"m\xc3\xa9","choices":[{"index":0,"delta":{"role":"assistant","content":""},'
        b'"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    )
    assert framer.choice({}, "stop").endswith(
        b'"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],'
        b'"usage":null}\n\n'
    )
    assert framer.usage(3, 4) == (
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,'
        b'"model":"m\xc3\xa9","choices":[],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\n'
    )
    plain = ChunkFramer("c", 1, "m", include_usage=False)
    assert plain.choice({"content": "hi"}) == (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        b'[{"index":0,"delta":{"content":"hi"},"logprobs":null,"finish_reason":null}]}\n\n'
    )
    assert DONE == b"data: [DONE]\n\n"
    assert error_event(UpstreamError("gone", code="x")) == (
        b'data: {"error":{"message":"gone","type":"upstream_error","param":null,"code":"x"}}\n\n'
    )


def test_validation_keeps_unknown_fields_and_names_the_bad_parameter() -> None:
    raw = decode_body(
        b'{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,'
        b'"stream_options":{"include_usage":true},"max_completion_tokens":9,"future":1}'
    )
    request = validate(raw)
    assert request.stream and request.include_usage and request.max_tokens == 9
    assert request.raw["future"] == 1
    with pytest.raises(BadRequest) as err:
        validate({"model": "m", "messages": [{"role": "user", "content": 5}]})
    assert err.value.param == "messages[0].content"
    with pytest.raises(BadRequest) as err:
        validate({"messages": [{"role": "user", "content": "x"}]})
    assert err.value.param == "model" and err.value.code == "missing_required_parameter"
    with pytest.raises(BadRequest) as err:
        validate({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2})
    assert err.value.param == "n"


@pytest.mark.parametrize(
    "text",
    [
        'model = "m"',  # no instructions
        'model = "m"\ninstructions = "x"\nmax_tool_hops = 0',
        'model = "m"\ninstructions = "x"\ntools = "get_time"',
        'model = "m"\ninstructions = "x"\nunknown = 1',
        "model = ",
    ],
)
def test_bad_agent_toml_is_a_dropin_error_with_remediation(text: str) -> None:
    with pytest.raises(DropinError) as err:
        parse_agent_toml(text)
    assert err.value.error_type == "invalid_agent_toml"
    assert "agent.toml" in err.value.remediation


def test_the_sample_agent_loads_and_uses_the_sample_tools() -> None:
    settings = Settings()
    path = ROOT / "src" / "agents" / "assistant" / "agent.toml"
    entry = load_declarative(
        path, "assistant", upstream=build_upstream(settings), tools=None, settings=settings
    )
    assert entry.kind == "declarative" and entry.name == "assistant"
    assert set(entry.tools) <= {"get_time", "word_count"} and entry.tools
    assert len(entry.digest) == 64


async def test_unfinished_requests_are_marked_interrupted_once() -> None:
    store = await InMemoryEventStore.open()
    try:
        for request_id, finished in (("r1", True), ("r2", False)):
            received = RequestReceived(
                request_id=request_id,
                key_id="k",
                model="m",
                stream=False,
                target="upstream",
                body={},
            )
            events = [NewEvent.of(received, uuid7())]
            if finished:
                done = RequestCompleted(
                    request_id=request_id, created=1, model="m", finish_reason="stop", duration_us=1
                )
                events.append(NewEvent.of(done, uuid7()))
            await store.append(f"request:{request_id}", events)
        assert await mark_interrupted(store) == ["r2"]
        last = (await store.read_stream("request:r2"))[-1]
        assert last.type == "request.interrupted"
        assert msgspec.json.decode(last.data)["reason"] == "unfinished_at_startup"
        assert await mark_interrupted(store) == []
    finally:
        await store.close()


def test_a_restarted_gateway_ends_requests_left_unfinished(
    gateway_factory: Callable[..., LiveGateway], tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/shared.db"
    first = gateway_factory(database_url=url)
    received = RequestReceived(
        request_id="r-crashed", key_id="k", model="m", stream=True, target="upstream", body={}
    )
    first.call(
        lambda: first.services.store.append("request:r-crashed", [NewEvent.of(received, uuid7())])
    )
    first.stop()
    second = gateway_factory(database_url=url)
    events = second.call(second.services.store.read_stream, "request:r-crashed")
    assert [e.type for e in events] == ["request.received", "request.interrupted"]
