"""``/v1/responses`` end to end with the real ``openai`` client: create, stream, parse, retrieve,
input items, client function tools and their round trip, conversations, the log's events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest
from pydantic import BaseModel

from tests.api.conftest import data, events_of, issue_key, types_of, wait_for_terminal
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.live_server import LiveGateway

LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
}


async def test_create_non_streamed_is_a_response_recorded_as_responses(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.text("Hello there.", chunks=3)
    gw = gateway_factory(upstream=fake_upstream)
    async with gw.openai() as client:
        raw = await client.responses.with_raw_response.create(
            model="fake-model", input="Hi", instructions="Be brief.", max_output_tokens=50
        )
        response = raw.parse()
    assert response.id == raw.headers["x-request-id"]
    assert response.id.startswith("resp_") and len(response.id) == 5 + 32
    assert response.status == "completed"
    assert response.output_text == "Hello there."
    assert response.instructions == "Be brief." and response.max_output_tokens == 50
    assert response.usage is not None and response.usage.total_tokens > 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    sent = fake_upstream.requests[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert sent["max_completion_tokens"] == 50
    events = events_of(gw, response.id)
    received = data(events[0])
    assert events[0].type == "request.received" and events[0].schema_version == 2
    assert received["api"] == "responses" and received["body"]["input"] == "Hi"
    assert events[-1].type == "request.completed"


async def test_stream_events_in_openai_order_and_the_sdk_assembles_them(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Reply.text_of("One two three.", chunks=3)
    gw = gateway_factory(upstream=fake_upstream)
    async with gw.openai() as client:
        stream = await client.responses.create(model="fake-model", input="Count", stream=True)
        events = [e async for e in stream]
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1].response  # type: ignore[union-attr]
    assert completed.output_text == "One two three."
    assert completed.usage is not None and completed.usage.input_tokens > 0
    async with (
        gw.openai() as client,
        client.responses.stream(model="fake-model", input="Count") as helper,
    ):
        final = await helper.get_final_response()
    assert final.output_text == "One two three."
    assert wait_for_terminal(gw, final.id)[-1].type == "request.completed"


async def test_client_function_tool_round_trip_with_previous_response_id(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("lookup", {"q": "ledger"}), fragments=3)
    fake_upstream.text("A ledger is a book of accounts.")
    gw = gateway_factory(upstream=fake_upstream)
    async with gw.openai() as client:
        first = await client.responses.create(
            model="fake-model",
            input="What is a ledger?",
            tools=[LOOKUP],  # type: ignore[list-item]
            stream=True,
        )
        events = [e async for e in first]
        done = events[-1].response  # type: ignore[union-attr]
        call = done.output[0]
        assert call.type == "function_call" and call.name == "lookup"
        assert json.loads(call.arguments) == {"q": "ledger"}
        deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
        assert "".join(deltas) == call.arguments
        second = await client.responses.create(
            model="fake-model",
            previous_response_id=done.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "a book"}],
            tools=[LOOKUP],  # type: ignore[list-item]
        )
    assert second.output_text == "A ledger is a book of accounts."
    assert second.previous_response_id == done.id
    messages = fake_upstream.requests[-1].body["messages"]
    assert messages == [
        {"role": "user", "content": "What is a ledger?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": "lookup", "arguments": call.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.call_id, "content": "a book"},
    ]


async def test_retrieve_and_input_items_are_rebuilt_from_the_log(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.text("Stored answer.")
    gw = gateway_factory(upstream=fake_upstream)
    async with gw.openai() as client:
        created = await client.responses.create(
            model="fake-model",
            input=[
                {"role": "developer", "content": "Be exact."},
                {"role": "user", "content": [{"type": "input_text", "text": "Tell me."}]},
            ],
        )
        got = await client.responses.retrieve(created.id)
        items = await client.responses.input_items.list(created.id, order="asc")
    assert got.id == created.id and got.output_text == "Stored answer."
    assert [o.id for o in got.output] == [o.id for o in created.output]
    assert got.usage == created.usage
    assert [(i.type, i.role) for i in items.data] == [  # type: ignore[union-attr]
        ("message", "developer"),
        ("message", "user"),
    ]
    assert items.data[1].content[0].text == "Tell me."  # type: ignore[union-attr]


async def test_store_false_and_other_keys_cannot_retrieve_or_continue(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Reply.text_of("Noted.")
    gw = gateway_factory(upstream=fake_upstream)
    secret, _ = issue_key(gw, "other", models=["*"])
    async with gw.openai() as client, gw.openai(api_key=secret) as other:
        kept = await client.responses.create(model="fake-model", input="keep")
        unkept = await client.responses.create(model="fake-model", input="drop", store=False)
        assert unkept.store is False
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(unkept.id)
        with pytest.raises(openai.NotFoundError):
            await client.responses.create(
                model="fake-model", input="more", previous_response_id=unkept.id
            )
        with pytest.raises(openai.NotFoundError):
            await other.responses.retrieve(kept.id)
        with pytest.raises(openai.NotFoundError) as denied:
            await other.responses.create(
                model="fake-model", input="more", previous_response_id=kept.id
            )
    assert denied.value.response.headers["x-request-id"].startswith("resp_")
    # Still recorded for audit.
    assert events_of(gw, unkept.id)[-1].type == "request.completed"
    refused = events_of(gw, denied.value.response.headers["x-request-id"])
    assert types_of(refused) == ["request.received", "request.failed"]


class Answer(BaseModel):
    city: str
    population: int


async def test_parse_with_text_format_gives_structured_output(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.text('{"city": "Paris", "population": 2100000}')
    gw = gateway_factory(upstream=fake_upstream)
    async with gw.openai() as client:
        parsed = await client.responses.parse(
            model="fake-model", input="Biggest French city?", text_format=Answer
        )
    assert parsed.output_parsed == Answer(city="Paris", population=2100000)
    fmt = fake_upstream.requests[-1].body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Answer"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fake-model", "input": 3}, "input"),
        ({"model": "fake-model", "input": [{"type": "bogus_item"}]}, "input[0].type"),
        ({"model": "fake-model", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "fake-model", "input": "x", "stream": "yes"}, "stream"),
        ({"model": "fake-model", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"input": "x"}, "model"),
        ({"model": "fake-model", "input": "x", "max_output_tokens": "9"}, "max_output_tokens"),
    ],
)
def test_bad_input_is_a_400_in_openai_shape_and_recorded(
    gateway_factory: Callable[..., LiveGateway], body: dict[str, object], param: str
) -> None:
    gw = gateway_factory()
    reply = httpx2.post(gw.url("/v1/responses"), json=body, headers=gw.headers())
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert set(error) == {"message", "type", "param", "code"}
    events = events_of(gw, reply.headers["x-request-id"])
    assert types_of(events) == ["request.received", "request.failed"]
    assert data(events[0])["api"] == "responses"


def test_client_disconnect_mid_stream_cancels_the_run_and_its_upstream_call(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.text("x" * 400, chunks=200, delay=0.02)
    gw = gateway_factory(upstream=fake_upstream)
    body = {"model": "fake-model", "input": "talk", "stream": True}
    with (
        httpx2.Client() as http,
        http.stream("POST", gw.url("/v1/responses"), json=body, headers=gw.headers()) as response,
    ):
        request_id = response.headers["x-request-id"]
        lines = response.iter_lines()
        assert next(lines) == "event: response.created"  # the stream has begun; now hang up
    events = wait_for_terminal(gw, request_id)
    assert types_of(events)[-1] == "request.cancelled"
    assert fake_upstream.wait_outcome() == "client_closed"


def test_upstream_error_before_output_is_a_real_status_and_after_is_response_failed(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.error(429, "Slow down", type="rate_limit_error", code="rate_limit_exceeded")
    fake_upstream.cut(after=2)
    gw = gateway_factory(upstream=fake_upstream)
    body = {"model": "fake-model", "input": "hi", "stream": True}
    refused = httpx2.post(gw.url("/v1/responses"), json=body, headers=gw.headers())
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
    cut = httpx2.post(gw.url("/v1/responses"), json=body, headers=gw.headers())
    assert cut.status_code == 200
    frames = [f for f in cut.text.split("\n\n") if f]
    assert frames[-1].startswith("event: response.failed\n")
    assert (
        sum(f.startswith(("event: response.completed", "event: response.failed")) for f in frames)
        == 1
    )
    assert types_of(events_of(gw, cut.headers["x-request-id"]))[-1] == "request.failed"


def test_unsupported_fields_are_refused_not_ignored(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    gw = gateway_factory()
    body = {"model": "m", "input": "x", "conversation": "conv_1"}
    reply = httpx2.post(gw.url("/v1/responses"), json=body, headers=gw.headers())
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "conversation"


async def test_item_references_are_resolved_from_the_log_for_the_same_key_only(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("lookup", {"q": "ledger"}))
    fake_upstream.text("Done.")
    gw = gateway_factory(upstream=fake_upstream)
    secret, _ = issue_key(gw, "other", models=["*"])
    async with gw.openai() as client, gw.openai(api_key=secret) as other:
        first = await client.responses.create(
            model="fake-model",
            input="What is a ledger?",
            tools=[LOOKUP],  # type: ignore[list-item]
        )
        call = first.output[0]
        assert call.type == "function_call"
        follow_up: list[Any] = [
            {"role": "user", "content": "What is a ledger?"},
            {"type": "item_reference", "id": call.id},
            {"type": "function_call_output", "call_id": call.call_id, "output": "a book"},
        ]
        with pytest.raises(openai.NotFoundError):
            await other.responses.create(model="fake-model", input=follow_up)
        second = await client.responses.create(model="fake-model", input=follow_up)
    assert second.output_text == "Done."
    assert fake_upstream.requests[-1].body["messages"][1]["tool_calls"][0]["id"] == call.call_id


async def test_admin_replay_and_metrics_cover_the_responses_route(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Reply.text_of("Counted.")
    gw = gateway_factory(upstream=fake_upstream)
    async with gw.openai() as client:
        streamed = await client.responses.create(model="fake-model", input="a", stream=True)
        final = [e async for e in streamed][-1].response  # type: ignore[union-attr]
        whole = await client.responses.create(model="fake-model", input="b")
    wait_for_terminal(gw, final.id)
    head = gw.call(gw.services.store.head)
    admin = gw.headers()
    replayed = httpx2.get(gw.url(f"/admin/requests/{final.id}"), headers=admin).json()
    assert replayed["api"] == "responses" and replayed["status"] == "completed"
    assert replayed["answer"]["content"] == "Counted." and replayed["input"]["input"] == "a"
    snap = httpx2.get(gw.url("/admin/metrics"), params={"min_position": head}, headers=admin).json()
    assert snap["requests"]["by_status"]["completed"] == 2
    assert whole.usage is not None and final.usage is not None
    tokens = whole.usage.output_tokens + final.usage.output_tokens
    assert snap["requests"]["completion_tokens"] == tokens
    metrics = httpx2.get(gw.url("/metrics"), params={"min_position": head}, headers=admin).text
    assert "ledgergate_requests_total{" in metrics
