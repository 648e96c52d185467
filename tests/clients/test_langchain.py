"""``langchain-openai`` against a live gateway: invoke, stream and ``bind_tools``."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI

from tests.clients.conftest import (
    LOOKUP_QUESTION,
    LOOKUP_RESULT,
    MODELS,
    QUESTIONS,
    TAKES_CLIENT_TOOLS,
    lookup_tool,
)
from tests.support.live_server import LiveGateway


def chat(gateway: LiveGateway, model: str) -> ChatOpenAI:
    return ChatOpenAI(
        model=model,
        base_url=gateway.base_url + "/v1",
        api_key=gateway.master_key,  # type: ignore[arg-type]
        max_retries=0,
        timeout=30,
    )


def streamed(runnable: Any, messages: Any) -> AIMessageChunk:
    total: AIMessageChunk | None = None
    for chunk in runnable.stream(messages):
        total = chunk if total is None else total + chunk
    assert total is not None
    return total


@pytest.mark.parametrize("model", MODELS)
def test_invoke_and_stream_agree_without_foreign_tool_calls(
    gateway: LiveGateway, model: str
) -> None:
    llm = chat(gateway, model)
    whole = llm.invoke(QUESTIONS[model])
    total = streamed(llm, QUESTIONS[model])
    assert whole.content and total.content == whole.content
    assert whole.tool_calls == [] and total.tool_calls == []
    assert total.response_metadata.get("finish_reason") == "stop"


@pytest.mark.parametrize("model", TAKES_CLIENT_TOOLS)
def test_bind_tools_round_trip(gateway: LiveGateway, model: str) -> None:
    llm = chat(gateway, model).bind_tools([lookup_tool()])
    question: list[BaseMessage] = [HumanMessage(LOOKUP_QUESTION)]
    whole = llm.invoke(question)
    total = streamed(llm, question)
    for message in (whole, total):
        assert [(c["name"], c["args"]) for c in message.tool_calls] == [
            ("lookup", {"product": "kettle"})
        ]
    call = whole.tool_calls[0]
    answer = llm.invoke([*question, whole, ToolMessage(LOOKUP_RESULT, tool_call_id=call["id"])])
    assert LOOKUP_RESULT in str(answer.content)
    assert answer.tool_calls == []
