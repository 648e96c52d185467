"""The drop-in workers' wire: frames and errors cross the process boundary unchanged."""

from __future__ import annotations

import asyncio

import pytest

from app.adapters.upstream.failures import _RateLimited
from app.adapters.workers import protocol as p
from app.adapters.workers.frames import encode, error_fields, gateway_error, read_message
from app.adapters.workers.supervisor import worker_env
from app.errors import BadRequest, RateLimited
from app.ports.chat_backend import ChatRequest, Finish, TextDelta, ToolCallDelta
from app.settings import Settings


async def test_messages_round_trip_through_length_prefixed_frames() -> None:
    request = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    messages: list[p.Message] = [
        p.RunStart(run=1, request=request, request_id="r", agent="a", agent_tools=["t"]),
        p.Deltas(run=1, items=[TextDelta("x"), ToolCallDelta(0, "c", "f", "{}", True)]),
        p.Deltas(run=1, items=[Finish("stop")]),
        p.ModelEvents(run=1, call=2, data=[b'{"a":1}', b"{}"]),
    ]
    reader = asyncio.StreamReader()
    reader.feed_data(b"".join(encode(m) for m in messages))
    reader.feed_eof()
    got = [await read_message(reader) for _ in messages]
    assert got == messages
    assert await read_message(reader) is None  # the other side is gone


def test_errors_cross_as_their_public_class_with_every_field() -> None:
    upstream = _RateLimited("slow down", code="rate_limit_exceeded")
    again = gateway_error(error_fields(upstream))
    assert type(again) is RateLimited
    assert (again.status, again.code, again.message) == (429, "rate_limit_exceeded", "slow down")
    bad = gateway_error(error_fields(BadRequest("no", param="tools", code="unsupported_parameter")))
    assert type(bad) is BadRequest
    assert (bad.status, bad.param, bad.code, bad.error_type) == (
        400,
        "tools",
        "unsupported_parameter",
        "invalid_request_error",
    )


def test_a_worker_environment_holds_none_of_the_gateways_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream")
    monkeypatch.setenv("LEDGERGATE_UPSTREAM_API_KEY", "sk-upstream")
    monkeypatch.setenv("LEDGERGATE_MASTER_KEY", "lg-master")
    monkeypatch.setenv("SOME_COPY_OF_IT", "sk-upstream")
    monkeypatch.setenv("DROPIN_SETTING", "kept")
    settings = Settings(upstream_api_key="sk-upstream", master_key="lg-master")
    env = worker_env(settings)
    assert env["DROPIN_SETTING"] == "kept"
    assert not {"sk-upstream", "lg-master"} & set(env.values())
