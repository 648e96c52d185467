"""Chat backends for Agents SDK drop-ins: a hand-written agent, or an Agent Builder workflow.

Both run on a per-request model provider bound to the gateway's upstream and stream deltas as
the SDK produces them. Tools the agent runs never reach the client as tool calls (they are
``ToolNotice`` items, shown only on request), and the answer ends with
``finish_reason: "stop"``. Closing the delta iterator (the client went away) cancels the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from agents.agent import Agent
from agents.models.chatcmpl_converter import Converter
from agents.run import RunConfig, Runner
from pydantic import BaseModel

from app.adapters.sdk import client_tools
from app.adapters.sdk.convert import last_user_text, to_input_items
from app.adapters.sdk.port_transport import ModelCaller
from app.adapters.sdk.provider import GatewayModelProvider, RunTelemetry
from app.adapters.sdk.run_failures import to_gateway_error
from app.adapters.sdk.run_hooks import GoverningHooks
from app.adapters.sdk.runner_hook import DONE, WorkflowRun, current_workflow, stop_run
from app.adapters.sdk.stream import DeltaTranslator
from app.dropin import tool_error_formatter
from app.errors import UpstreamError
from app.ports.chat_backend import ChatRequest, Delta, Finish, Held, TextDelta, Usage
from app.ports.request_context import RequestContext, current_request


class _DefaultWorkflowInput(BaseModel):
    input_as_text: str


def _enter(ctx: RequestContext) -> None:
    # Tool governance reads the caller from this ContextVar; the SDK's tool tasks copy it.
    if current_request.get() is not ctx:
        current_request.set(ctx)


def _telemetry(caller: ModelCaller, request: ChatRequest, ctx: RequestContext) -> RunTelemetry:
    return RunTelemetry(ctx.recorder, caller.label, max_tokens=request.max_tokens)


class SdkBackend:
    """Runs one entry ``Agent`` with the chat history as input."""

    def __init__(self, name: str, agent: Agent[Any], caller: ModelCaller, max_turns: int):
        self.name = name
        self.agent = agent
        self.caller = caller
        self.max_turns = max_turns

    async def run(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[Delta]:
        agent = client_tools.for_request(self.agent, request, self.name)
        items: Any = request.items  # Responses items work natively
        if items is None:
            items = to_input_items(request.messages)  # SDK input item dicts
        _enter(ctx)
        telemetry = _telemetry(self.caller, request, ctx)
        config = RunConfig(
            model_provider=GatewayModelProvider(self.caller, telemetry),
            tracing_disabled=True,
            tool_error_formatter=tool_error_formatter(),
        )
        result = Runner.run_streamed(
            agent,
            items,
            max_turns=self.max_turns,
            hooks=GoverningHooks(),
            run_config=config,
        )
        translator = DeltaTranslator(client_tools.client_tool_names(request), ctx)
        try:
            async for event in result.stream_events():
                for delta in translator.feed(event):
                    yield delta
        except Exception as exc:
            raise to_gateway_error(exc, self.name) from exc
        finally:
            stop_run(result)
        if not translator.text_seen and _answered_nothing(result.raw_responses):
            raise empty_answer(self.name)
        yield Usage(telemetry.prompt_tokens, telemetry.completion_tokens)
        if translator.visible_ids:  # the run stopped at the client's tools: theirs to run
            yield Held(held_messages(result.new_items, translator.visible_ids))
            yield Finish("tool_calls")
        else:
            yield Finish("stop")


def _answered_nothing(responses: list[Any]) -> bool:
    """The last model call gave no output item at all (no text, no tool call)."""
    return bool(responses) and not list(responses[-1].output)


def empty_answer(agent: str) -> UpstreamError:
    return UpstreamError(
        f"Agent '{agent}': the upstream's answer was empty or unfinished.",
        code="upstream_incomplete",
    )


def _output_text(output: Any, wf: WorkflowRun) -> str:
    """The workflow's answer when none was streamed: ``output_text``, else the last final output."""
    if isinstance(output, dict) and isinstance(output.get("output_text"), str):
        return str(output["output_text"])
    if isinstance(output, str):
        return output
    final = wf.last_result.final_output if wf.last_result is not None else None
    return final if isinstance(final, str) else ""


def _refuse_client_options(request: ChatRequest, name: str) -> None:
    """An export's workflow wires its own agents, tools and outputs: it cannot take the client's."""
    why = "an Agent Builder workflow runs its own agents, tools and outputs."
    if request.tools:
        raise client_tools.unsupported("tools", name, why)
    if request.raw.get("tool_choice") not in (None, "auto", "none"):
        raise client_tools.unsupported("tool_choice", name, why)
    response_format = request.raw.get("response_format")
    if response_format is not None and response_format != {"type": "text"}:
        raise client_tools.unsupported("response_format", name, why)


def held_messages(items: Any, visible_ids: dict[str, str]) -> list[dict[str, Any]]:
    """The run's new items as chat messages, the client's calls under the ids it saw.

    The client's calls stay (it answers them next); their placeholder outputs go.
    """
    inputs = [item.to_input_item() for item in items]
    inputs = [
        i
        for i in inputs
        if not (i.get("type") == "function_call_output" and i.get("call_id") in visible_ids)
        # Hosted calls (web/file search) ran upstream and have no chat form: their use is logged.
        and i.get("type") not in ("web_search_call", "file_search_call")
    ]
    messages: list[dict[str, Any]] = [dict(m) for m in Converter.items_to_messages(inputs)]
    for message in messages:
        for call in message.get("tool_calls") or ():
            call["id"] = visible_ids.get(call["id"], call["id"])
    return messages


class WorkflowBackend:
    """Runs an Agent Builder export's ``run_workflow(workflow_input)`` unchanged."""

    def __init__(
        self,
        name: str,
        run_workflow: Callable[[Any], Any],
        input_type: type[Any] | None,
        caller: ModelCaller,
        max_turns: int,
    ):
        self.name = name
        self.run_workflow = run_workflow
        self.input_type = input_type or _DefaultWorkflowInput
        self.caller = caller
        self.max_turns = max_turns

    async def _drive(self, wf: WorkflowRun, text: str) -> Any:
        try:
            return await self.run_workflow(self.input_type(input_as_text=text))
        finally:
            wf.queue.put_nowait(DONE)

    async def run(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[Delta]:
        _refuse_client_options(request, self.name)
        text = last_user_text(request.messages)
        _enter(ctx)
        telemetry = _telemetry(self.caller, request, ctx)
        provider = GatewayModelProvider(self.caller, telemetry)
        wf = WorkflowRun(provider, self.max_turns, translator=DeltaTranslator(ctx=ctx))
        token = current_workflow.set(wf)
        try:  # the task copies the context now: the runner hook sees ``wf`` only there
            task = asyncio.create_task(self._drive(wf, text))
        finally:
            current_workflow.reset(token)
        try:
            while (item := await wf.queue.get()) is not DONE:
                yield item
            try:
                output = await task
            except Exception as exc:
                raise to_gateway_error(exc, self.name) from exc
        finally:
            if not task.done():
                task.cancel()  # the client went away: the hook stops the inner run
        if not wf.translator.text_seen:
            answer = _output_text(output, wf)
            last = wf.last_result.raw_responses if wf.last_result is not None else []
            if not answer and _answered_nothing(last):
                raise empty_answer(self.name)
            if answer:
                yield TextDelta(answer)
        yield Usage(telemetry.prompt_tokens, telemetry.completion_tokens)
        yield Finish("stop")
