"""The SDK's default agent runner, replaced so every run is governed and exports run here.

Exports call ``Runner.run(agent, ..., run_config=RunConfig(...))`` with their own settings.
``Runner.run`` goes through the SDK's default agent runner (``agents.run.set_default_agent_runner``,
an experimental API of openai-agents 0.24, pinned). While a gateway request's ``WorkflowRun``
is set in a ContextVar, our subclass swaps in the request's model provider, caps ``max_turns``,
turns the run into a streamed one and forwards its deltas to the request. Every run inside a
gateway request, in a workflow or not, gets the gateway's ``GoverningHooks`` in front of its
own: that is how the nested run of an ``as_tool()`` agent is governed (``run_hooks``).
Outside a gateway request it is exactly the SDK's runner.
"""

from __future__ import annotations

import asyncio
import dataclasses
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from agents.models.interface import Model
from agents.result import RunResultStreaming
from agents.run import AgentRunner, RunConfig
from agents.tracing import set_tracing_disabled

from agents import run as sdk_run
from app.adapters.sdk.provider import GatewayModelProvider
from app.adapters.sdk.run_hooks import governing
from app.adapters.sdk.stream import DeltaTranslator
from app.dropin import tool_error_formatter
from app.ports.chat_backend import Delta
from app.ports.request_context import current_request

DONE = object()


@dataclass
class WorkflowRun:
    """One gateway request running an Agent Builder workflow."""

    provider: GatewayModelProvider
    max_turns: int
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    translator: DeltaTranslator = field(default_factory=DeltaTranslator)
    last_result: RunResultStreaming | None = None

    def put(self, delta: Delta) -> None:
        self.queue.put_nowait(delta)


current_workflow: ContextVar[WorkflowRun | None] = ContextVar("ledgergate_workflow", default=None)
_nested: ContextVar[bool] = ContextVar("ledgergate_workflow_nested", default=False)


def stop_run(result: RunResultStreaming) -> None:
    """Stop a streamed run that has not finished (the client went away, or an error)."""
    if not result.is_complete:
        result.cancel()


def _plain_text(agent: Any) -> bool:
    """Agents with a structured ``output_type`` feed the workflow, not the chat: keep it back."""
    output_type = getattr(agent, "output_type", None)
    return output_type is None or output_type is str


def _bind(run_config: Any, wf: WorkflowRun) -> RunConfig:
    config = run_config if isinstance(run_config, RunConfig) else RunConfig()
    model = config.model
    if isinstance(model, Model):  # a hard-wired model instance would bypass our provider
        model = getattr(model, "model", None)
    return dataclasses.replace(
        config,
        model=model,
        model_provider=wf.provider,
        tracing_disabled=True,
        tool_error_formatter=tool_error_formatter(config.tool_error_formatter),
    )


def _govern(kwargs: dict[str, Any]) -> None:
    if current_request.get() is not None:
        kwargs["hooks"] = governing(kwargs.get("hooks"))


def _cap(max_turns: Any, wf: WorkflowRun) -> int:
    return min(max_turns, wf.max_turns) if isinstance(max_turns, int) else wf.max_turns


class GatewayAgentRunner(AgentRunner):
    async def run(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        _govern(kwargs)
        wf = current_workflow.get()
        if wf is None:
            return await super().run(starting_agent, input, **kwargs)
        kwargs["run_config"] = _bind(kwargs.get("run_config"), wf)
        kwargs["max_turns"] = _cap(kwargs.get("max_turns"), wf)
        if _nested.get():  # an agent-as-tool inside a workflow node: not the chat's answer
            return await super().run(starting_agent, input, **kwargs)
        token = _nested.set(True)
        try:
            result = super().run_streamed(starting_agent, input, **kwargs)
            try:
                async for event in result.stream_events():
                    plain = _plain_text(result.current_agent)
                    for delta in wf.translator.feed(event, text=plain):
                        wf.put(delta)
            finally:
                stop_run(result)
            wf.last_result = result
            return result
        finally:
            _nested.reset(token)

    def run_streamed(self, starting_agent: Any, input: Any, **kwargs: Any) -> RunResultStreaming:
        _govern(kwargs)
        wf = current_workflow.get()
        if wf is not None:
            kwargs["run_config"] = _bind(kwargs.get("run_config"), wf)
            kwargs["max_turns"] = _cap(kwargs.get("max_turns"), wf)
        return super().run_streamed(starting_agent, input, **kwargs)


def install_runner_hook() -> None:
    """Install the gateway runner as the SDK default (idempotent) and turn trace export off."""
    set_tracing_disabled(True)
    if not isinstance(sdk_run.get_default_agent_runner(), GatewayAgentRunner):
        sdk_run.set_default_agent_runner(GatewayAgentRunner())
