"""The ``openai`` Python client against a live gateway: create, stream, the ``.stream()``
helper, ``.parse()`` and a client tool's round trip, for each sample agent and passthrough."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.clients.conftest import (
    LOOKUP_QUESTION,
    LOOKUP_RESULT,
    MODELS,
    QUESTIONS,
    TAKES_CLIENT_TOOLS,
    lookup_tool,
)
from tests.support.live_server import LiveGateway


class Verdict(BaseModel):
    answer: str
    confident: bool


def client_of(gateway: LiveGateway) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway.base_url + "/v1", api_key=gateway.master_key, max_retries=0, timeout=30
    )


def ask(model: str) -> list[Any]:
    return [{"role": "user", "content": QUESTIONS[model]}]


@pytest.mark.parametrize("model", MODELS)
def test_the_same_answer_streamed_or_not_and_never_a_foreign_tool_call(
    gateway: LiveGateway, model: str
) -> None:
    client = client_of(gateway)
    whole = client.chat.completions.create(model=model, messages=ask(model))
    chunks = list(client.chat.completions.create(model=model, messages=ask(model), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and whole.choices[0].message.content == text
    assert whole.choices[0].message.tool_calls is None
    assert not [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == [whole.choices[0].finish_reason] == ["stop"]
    with client.chat.completions.stream(model=model, messages=ask(model)) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == text
    assert not final.choices[0].message.tool_calls
    assert final.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", TAKES_CLIENT_TOOLS)
def test_parse_gives_the_json_schema_object_streamed_or_not(
    gateway: LiveGateway, model: str
) -> None:
    client = client_of(gateway)
    parsed = client.chat.completions.parse(
        model=model, messages=ask(model), response_format=Verdict
    )
    verdict = parsed.choices[0].message.parsed
    assert isinstance(verdict, Verdict)
    with client.chat.completions.stream(
        model=model, messages=ask(model), response_format=Verdict
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == verdict


def test_an_agent_builder_export_refuses_client_options_by_name(gateway: LiveGateway) -> None:
    client = client_of(gateway)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.parse(
            model="refund_desk", messages=ask("refund_desk"), response_format=Verdict
        )
    assert err.value.code == "unsupported_parameter"
    assert "refund_desk" in err.value.message and "response_format" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="refund_desk",
            messages=ask("refund_desk"),
            tools=[lookup_tool()],  # type: ignore[list-item]
        )
    assert err.value.code == "unsupported_parameter" and err.value.param == "tools"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", TAKES_CLIENT_TOOLS)
def test_client_tool_round_trip(gateway: LiveGateway, model: str, stream: bool) -> None:
    client = client_of(gateway)
    tools: Any = [lookup_tool()]
    messages: list[Any] = [{"role": "user", "content": LOOKUP_QUESTION}]
    if stream:
        with client.chat.completions.stream(model=model, messages=messages, tools=tools) as s:
            first = s.get_final_completion()
    else:
        first = client.chat.completions.create(model=model, messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["lookup"]  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"product": "kettle"}  # type: ignore[union-attr]
    messages.append(choice.message.model_dump(exclude_none=True, exclude={"parsed"}))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": LOOKUP_RESULT})
    if stream:
        with client.chat.completions.stream(model=model, messages=messages, tools=tools) as s:
            second = s.get_final_completion()
    else:
        second = client.chat.completions.create(model=model, messages=messages, tools=tools)
    assert second.choices[0].finish_reason == "stop"
    assert LOOKUP_RESULT in (second.choices[0].message.content or "")
