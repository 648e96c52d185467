"""Which API carries a Responses request upstream (``LEDGERGATE_UPSTREAM_API``): the upstream's
own Responses API (the offline scripted upstream speaks it), the Chat Completions translation,
and ``auto``, which finds out once."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx2
import openai

from app.adapters.eventstore.memory import InMemoryEventStore
from app.adapters.upstream import ScriptedTransport
from app.ports.chat_backend import Finish, TextDelta, ToolCallDelta, Usage
from app.ports.request_context import RequestContext
from app.ports.upstream import UpstreamCall
from app.services.recorder import RequestRecorder
from app.services.responses_upstream import responses_hop
from domain.policy import Principal
from tests.api.conftest import data, events_of, types_of
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.live_server import LiveGateway

LOOKUP = {
    "type": "function",
    "name": "lookup",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
}


async def test_auto_finds_out_once_that_the_upstream_has_no_responses_api(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Reply.text_of("Translated.")
    gw = gateway_factory(upstream=fake_upstream)
    assert gw.settings.upstream_api == "auto"
    async with gw.openai() as client:
        first = await client.responses.create(model="fake-model", input="a")
        second = await client.responses.create(model="fake-model", input="b", stream=True)
        [e async for e in second]
    assert first.output_text == "Translated."
    paths = [r.path.rsplit("/v1", 1)[1] for r in fake_upstream.requests]
    assert paths == ["/responses", "/chat/completions", "/chat/completions"]
    events = events_of(gw, first.id)
    failed = [data(e) for e in events if e.type == "upstream.call_failed"]
    assert [(f["hop"], f["status"]) for f in failed] == [(1, 404)]
    started = [data(e)["hop"] for e in events if e.type == "upstream.call_started"]
    assert started == [1, 2] and types_of(events)[-1] == "request.completed"


async def test_chat_completions_mode_never_calls_the_responses_api(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Reply.text_of("Translated.")
    gw = gateway_factory(upstream=fake_upstream, upstream_api="chat_completions")
    async with gw.openai() as client:
        await client.responses.create(model="fake-model", input="a")
    assert [r.path.endswith("/chat/completions") for r in fake_upstream.requests] == [True]


async def test_responses_mode_talks_responses_to_the_scripted_upstream(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    gw = gateway_factory(upstream_api="responses")
    async with gw.openai() as client:
        call = await client.responses.create(
            model="gpt-4o-mini",
            input="Please lookup 'kettle'.",
            tools=[LOOKUP],  # type: ignore[list-item]
            stream=True,
        )
        events = [e async for e in call]
        done = events[-1].response  # type: ignore[union-attr]
        fc = done.output[0]
        assert (fc.type, fc.name, json.loads(fc.arguments)) == (
            "function_call",
            "lookup",
            {"q": "kettle"},
        )
        answer = await client.responses.create(
            model="gpt-4o-mini",
            previous_response_id=done.id,
            input=[{"type": "function_call_output", "call_id": fc.call_id, "output": "in stock"}],
        )
        limited = await client.responses.with_raw_response.create(
            model="gpt-4o-mini", input="hi", max_output_tokens=5
        )
    assert "in stock" in answer.output_text
    assert limited.parse().status == "completed"
    upstream = [data(e) for e in events_of(gw, done.id) if e.type.startswith("upstream.call_")]
    assert [u.get("finish_reason") for u in upstream] == [None, "tool_calls"]


async def test_scripted_upstream_answers_the_responses_api_with_the_openai_client() -> None:
    transport = ScriptedTransport(clock=lambda: 1700000000)
    http = httpx2.AsyncClient(transport=transport)
    async with openai.AsyncOpenAI(
        api_key="x", base_url="http://scripted.invalid/v1", http_client=http
    ) as client:
        whole = await client.responses.create(model="scripted", input="Say hi to Ada.")
        async with client.responses.stream(model="scripted", input="Say hi to Ada.") as stream:
            streamed = await stream.get_final_response()
    assert whole.output_text and whole.output_text == streamed.output_text
    assert whole.usage is not None and whole.usage.output_tokens > 0


class _Upstream:
    """An upstream that speaks Responses and sends the arguments only in ``done``."""

    label = "test"
    scripted = False

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def allows_model(self, model: str) -> bool:
        return True

    async def send(self, call: UpstreamCall) -> AsyncGenerator[bytes, None]:
        for event in self.events:
            yield json.dumps(event).encode()

    async def model_ids(self, timeout_s: float) -> list[str]:
        return []

    async def close(self) -> None:
        return None


async def test_arguments_sent_only_in_done_are_not_lost() -> None:
    item = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "f",
        "arguments": "",
    }
    usage = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    completed = {"status": "completed", "output": [item], "usage": usage}
    upstream = _Upstream(
        [
            {"type": "response.created", "response": {"status": "in_progress"}},
            {"type": "response.output_text.delta", "output_index": 0, "delta": "Hm."},
            {"type": "response.output_item.added", "output_index": 1, "item": item},
            {"type": "response.function_call_arguments.done", "output_index": 1, "arguments": "{}"},
            {"type": "response.completed", "response": completed},
        ]
    )
    store = await InMemoryEventStore.open()
    ctx = RequestContext(
        request_id="resp_1",
        principal=Principal(key_id="k", name="k", admin=True),
        recorder=RequestRecorder(store, "resp_1"),
    )
    deltas = [d async for d in responses_hop(upstream, ctx, {"model": "m", "stream": True}, hop=1)]
    assert deltas == [
        TextDelta("Hm."),
        ToolCallDelta(index=0, id="call_1", name="f", arguments="", client=True),
        ToolCallDelta(index=0, arguments="{}", client=True),
        Finish("tool_calls"),
        Usage(3, 4),
    ]
    await store.close()
