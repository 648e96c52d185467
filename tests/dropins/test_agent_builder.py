"""Agent Builder exports run unchanged: their inner Runner.run calls reach the gateway."""

from __future__ import annotations

from typing import Any

from agents.agent import Agent
from agents.run import RunConfig, Runner

from app.ports.chat_backend import Finish, TextDelta, ToolCallDelta, ToolNotice, Usage
from tests.dropins.conftest import FIXTURES
from tests.dropins.fake_chat import Reply
from tests.dropins.test_sdk_backend import context, request_events, run


async def test_workflow_streams_the_plain_agent_and_keeps_structured_output_back(
    make_discovery, store, fake_chat
):
    discovery = make_discovery(FIXTURES / "good")
    await discovery.scan("startup")
    fake_chat.replies = [
        Reply(text='{"category":"policy"}'),  # the classifier (structured output)
        Reply(tool_calls=[("c1", "get_policy", '{"topic":"refunds"}')]),
        Reply(text="Refunds: be kind."),
    ]
    ctx = context(store, discovery, "builder")
    deltas = await run(
        discovery,
        ctx,
        [
            {"role": "user", "content": "earlier question"},
            {"role": "assistant", "content": "earlier answer"},
            {"role": "user", "content": "What about refunds?"},
        ],
    )
    text = "".join(d.content for d in deltas if isinstance(d, TextDelta))
    assert text == "Refunds: be kind."
    # The export's own tool is the gateway's to run: a notice, never a client tool call.
    assert not [d for d in deltas if isinstance(d, ToolCallDelta)]
    notices = [(d.id, d.name, d.status) for d in deltas if isinstance(d, ToolNotice)]
    assert notices == [("c1", "get_policy", "started"), ("c1", "get_policy", "completed")]
    assert deltas[-2:] == [Usage(21, 9), Finish("stop")]
    first = fake_chat.requests[0]
    # input_as_text is the last user message
    assert first["messages"][-1]["content"] == [{"type": "text", "text": "What about refunds?"}]
    assert first["model"] == "gpt-5"
    # OpenAI-only settings are sanitised for a non-OpenAI upstream
    for req in fake_chat.requests:
        assert not {"store", "reasoning_effort", "verbosity", "metadata"} & req.keys()
    events = await request_events(store)
    assert [e["hop"] for t, e in events if t == "upstream.call_started"] == [1, 2, 3]
    invoked = [(e["tool"], e["source"]) for t, e in events if t == "tool.invoked"]
    assert invoked == [("get_policy", "sdk")]


async def test_workflow_failure_maps_to_a_gateway_error(make_discovery, store, fake_chat):
    import pytest

    from app.errors import RateLimited

    discovery = make_discovery(FIXTURES / "good")
    await discovery.scan("startup")
    fake_chat.replies = [Reply(text="slow down", status=429)]
    with pytest.raises(RateLimited):
        ctx = context(store, discovery, "builder")
        await run(discovery, ctx, [{"role": "user", "content": "x"}])


async def test_runner_hook_is_inert_outside_a_gateway_request(fake_chat):
    from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
    from agents.run import get_default_agent_runner

    from app.adapters.sdk.runner_hook import GatewayAgentRunner, install_runner_hook

    install_runner_hook()
    assert isinstance(get_default_agent_runner(), GatewayAgentRunner)
    fake_chat.replies = [Reply(text="plain SDK")]
    model = OpenAIChatCompletionsModel(model="own-model", openai_client=fake_chat.client())
    agent: Agent[Any] = Agent(name="own", instructions="x", model=model)
    result = await Runner.run(agent, "hi", run_config=RunConfig(tracing_disabled=True))
    assert result.final_output == "plain SDK"
    assert fake_chat.requests[0]["model"] == "own-model"
