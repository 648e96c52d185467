"""The Agents SDK as a client of the gateway (``OpenAIChatCompletionsModel``): ``Runner.run``
and ``Runner.run_streamed`` agree, with and without a client ``function_tool``."""

from __future__ import annotations

import openai
import pytest
from agents.tool import Tool

from agents import Agent, OpenAIChatCompletionsModel, RunConfig, Runner, function_tool
from tests.clients.conftest import (
    LOOKUP_QUESTION,
    LOOKUP_RESULT,
    MODELS,
    QUESTIONS,
    TAKES_CLIENT_TOOLS,
)
from tests.support.live_server import LiveGateway

CONFIG = RunConfig(tracing_disabled=True)


def client_agent(gateway: LiveGateway, model: str, tools: list[Tool]) -> Agent[None]:
    client = openai.AsyncOpenAI(
        base_url=gateway.base_url + "/v1", api_key=gateway.master_key, max_retries=0
    )
    return Agent(
        name="client",
        model=OpenAIChatCompletionsModel(model=model, openai_client=client),
        tools=tools,
    )


async def run_both(agent: Agent[None], question: str) -> tuple[object, object]:
    whole = await Runner.run(agent, question, run_config=CONFIG)
    streamed = Runner.run_streamed(agent, question, run_config=CONFIG)
    async for _event in streamed.stream_events():
        pass
    return whole.final_output, streamed.final_output


@pytest.mark.parametrize("model", MODELS)
async def test_run_and_run_streamed_give_the_same_answer(gateway: LiveGateway, model: str) -> None:
    whole, streamed = await run_both(client_agent(gateway, model, []), QUESTIONS[model])
    assert isinstance(whole, str) and whole
    assert streamed == whole


@pytest.mark.parametrize("model", TAKES_CLIENT_TOOLS)
async def test_a_client_function_tool_runs_in_the_client(gateway: LiveGateway, model: str) -> None:
    products: list[str] = []

    @function_tool
    def lookup(product: str) -> str:
        """Look a product up in the stock list."""
        products.append(product)
        return LOOKUP_RESULT

    agent = client_agent(gateway, model, [lookup])
    whole, streamed = await run_both(agent, LOOKUP_QUESTION)
    assert products == ["kettle", "kettle"]
    assert isinstance(whole, str) and LOOKUP_RESULT in whole
    assert streamed == whole


async def test_an_agent_builder_export_refuses_a_client_tool(gateway: LiveGateway) -> None:
    @function_tool
    def lookup(product: str) -> str:
        """Look a product up."""
        return LOOKUP_RESULT

    agent = client_agent(gateway, "refund_desk", [lookup])
    with pytest.raises(openai.BadRequestError, match="refund_desk"):
        await Runner.run(agent, LOOKUP_QUESTION, run_config=CONFIG)
