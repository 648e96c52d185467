"""Run-time governance: every agent that starts in a run is checked, and its tools wrapped.

The load-time walk (``govern``) finds the agent behind a ``handoff()`` or an ``as_tool()`` tool
by its name. These hooks see the agents themselves, on the SDK's public ``RunHooks``:
``on_agent_start`` receives the agent object before its tools are offered to the model, for the
entry agent and for every handoff target; an ``as_tool()`` agent starts a nested run, which the
gateway's default runner (``runner_hook``) gives these hooks as well. An agent that cannot be
governed stops the run before its model is called; its function tools are wrapped in place,
once. Tools added while the agent runs (by its own hooks, say) are checked again before each
model call (``on_llm_start``), and ``on_tool_start`` comes before the SDK reads
``on_invoke_tool``: a function tool still unwrapped there is wrapped before it runs.
"""

from __future__ import annotations

from typing import Any

from agents.lifecycle import RunHooks
from agents.tool import FunctionTool, ToolOriginType, get_function_tool_origin

from app.adapters.sdk.govern import AgentGraph, govern_tools, inspect_agent, needs_wrapping
from app.dropin import govern_function_tool
from app.errors import UpstreamError


def govern_started(agent: Any) -> None:
    """Wrap ``agent``'s function tools; raise ``UpstreamError`` if it cannot be governed."""
    graph = AgentGraph()
    inspect_agent(agent, graph)
    refusal = graph.refusal()
    if refusal is not None:
        raise UpstreamError(
            f"Agent '{agent.name}' cannot run under the gateway's governance: "
            f"{refusal.message}. {refusal.remediation}",
            code=refusal.error_type,
        )
    govern_tools(graph)


def _from_mcp(tool: FunctionTool) -> bool:
    """An MCP server's tool, rebuilt every turn: governed by the server's guardrail instead."""
    origin = get_function_tool_origin(tool)
    return origin is not None and origin.type is ToolOriginType.MCP


class GoverningHooks(RunHooks[Any]):
    """The gateway's governance first, then the run's own hooks (``theirs``), if it had any."""

    def __init__(self, theirs: RunHooks[Any] | None = None) -> None:
        self.theirs: RunHooks[Any] = theirs if theirs is not None else RunHooks()

    async def on_agent_start(self, context: Any, agent: Any) -> None:
        govern_started(agent)
        await self.theirs.on_agent_start(context, agent)

    async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
        if isinstance(tool, FunctionTool) and needs_wrapping(tool) and not _from_mcp(tool):
            govern_function_tool(tool)
        await self.theirs.on_tool_start(context, agent, tool)

    async def on_llm_start(
        self, context: Any, agent: Any, system_prompt: Any, input_items: Any
    ) -> None:
        govern_started(agent)
        await self.theirs.on_llm_start(context, agent, system_prompt, input_items)

    async def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        await self.theirs.on_llm_end(*args, **kwargs)

    async def on_agent_end(self, *args: Any, **kwargs: Any) -> None:
        await self.theirs.on_agent_end(*args, **kwargs)

    async def on_handoff(self, *args: Any, **kwargs: Any) -> None:
        await self.theirs.on_handoff(*args, **kwargs)

    async def on_tool_end(self, *args: Any, **kwargs: Any) -> None:
        await self.theirs.on_tool_end(*args, **kwargs)


def governing(hooks: Any) -> GoverningHooks:
    """``hooks`` with the gateway's governance in front (once)."""
    return hooks if isinstance(hooks, GoverningHooks) else GoverningHooks(hooks)
