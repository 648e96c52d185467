"""Governance of a drop-in's agent graph: wrap every function tool, refuse the rest.

At load the graph is walked from the entry agent on the SDK's public API only: its tools, the
agents it hands off to and the agents behind its ``as_tool()`` tools, transitively. An agent
put straight into ``handoffs`` is followed as it is; a ``handoff()`` or an ``as_tool()`` tool
names its agent only (``Handoff.agent_name``, the tool's ``ToolOrigin``), so that name is
looked up among the drop-in's module-level agents, and a name not found there fails the load
(``hidden_agent``): the gateway would not know the tools it lists and checks. Each
``FunctionTool`` is wrapped in place (never ``agent.tools`` itself: the SDK refuses tool lists
that change under concurrent runs) so its calls go through the gateway's ``ToolManager`` with
``source="sdk"``. At run time ``GoverningHooks`` (``app.adapters.sdk.run_hooks``) applies the
same rules to every agent that actually starts, which covers what a name lookup cannot prove.

The hosted ``WebSearchTool`` and ``FileSearchTool`` run on the upstream's Responses API
(``provider``) and are governed there by name (``web_search``, ``file_search``:
``app.services.upstream_hosted``); any other hosted tool cannot be governed and makes the drop-in
fail with a remediation. Local MCP servers rebuild their tools every turn, so wrapping misses
them: one is accepted only with a static allow-list (``tool_filter``) and
``gateway_mcp_guardrail`` in its ``tool_input_guardrails``, which puts each call through the
gateway's access policy (``acl.decided``; denied calls are refused).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.agent import Agent
from agents.handoffs import Handoff
from agents.models.interface import Model
from agents.tool import (
    FileSearchTool,
    FunctionTool,
    ToolOriginType,
    WebSearchTool,
    get_function_tool_origin,
)
from agents.tool_guardrails import (
    ToolGuardrailFunctionOutput,
    ToolInputGuardrailData,
    tool_input_guardrail,
)

from app.adapters.sdk.client_tools import is_client_tool
from app.dropin import govern_function_tool, is_gateway_tool
from app.ports.request_context import current_request
from app.services.agents import DropinError
from app.services.tools import denial_message, tool_acl_event
from domain.policy import decide_tool

USE_GATEWAY_TOOL = 'use `use_gateway_tool("<name>")` from app.dropin for a governed gateway tool'
# Hosted tools the gateway can govern (the upstream runs them): their names in policy and log.
HOSTED_NAMES: dict[type[Any], str] = {WebSearchTool: "web_search", FileSearchTool: "file_search"}
MCP_FIX = (
    "Give the MCP server tool_filter=create_static_tool_filter(allowed_tool_names=[...]) and "
    "tool_input_guardrails=[gateway_mcp_guardrail] (from app.adapters.sdk.govern), or "
    + USE_GATEWAY_TOOL
    + "."
)


@tool_input_guardrail
async def gateway_mcp_guardrail(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
    """The gateway's access policy for an MCP tool call, recorded as ``acl.decided``."""
    ctx = current_request.get()
    name = data.context.tool_name
    if ctx is None:
        return ToolGuardrailFunctionOutput.reject_content(
            f"Tool '{name}' is not allowed outside a gateway request."
        )
    if ctx.tool_manager is not None:  # in a worker process: the gateway decides and records
        denial: str | None = await ctx.tool_manager.check_call(name)
    else:
        decision = decide_tool(ctx.principal, ctx.agent_tools, name)
        await ctx.recorder.record(tool_acl_event(ctx, name, decision))
        denial = None if decision.allowed else denial_message(ctx, name, decision)
    if denial is None:
        return ToolGuardrailFunctionOutput.allow()
    return ToolGuardrailFunctionOutput.reject_content(denial)


def _mcp_allowed(server: Any) -> list[str] | None:
    """The statically allowed tool names of a governed MCP server, or None if ungoverned."""
    guards = getattr(server, "tool_input_guardrails", None) or []
    tool_filter = getattr(server, "tool_filter", None)
    allowed = tool_filter.get("allowed_tool_names") if isinstance(tool_filter, dict) else None
    if gateway_mcp_guardrail in guards and allowed:
        return [str(n) for n in allowed]
    return None


# The drop-in's module-level agents by name: where the agent behind a handoff() or an
# as_tool() tool is looked up (the SDK's public API gives its name, not the object).
Known = Mapping[str, Sequence[Agent[Any]]]


@dataclass
class AgentGraph:
    """Every agent reachable from an entry agent and every function tool they hold."""

    agents: list[Agent[Any]] = field(default_factory=list)
    tools: list[FunctionTool] = field(default_factory=list)
    mcp_tools: list[str] = field(default_factory=list)
    hosted: list[str] = field(default_factory=list)  # web_search, file_search
    problems: list[str] = field(default_factory=list)
    remediations: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # agents known by name only, not found

    @property
    def tool_names(self) -> tuple[str, ...]:
        return tuple(sorted({t.name for t in self.tools} | set(self.mcp_tools) | set(self.hosted)))

    def problem(self, message: str, remediation: str) -> None:
        self.problems.append(message)
        if remediation not in self.remediations:
            self.remediations.append(remediation)

    def refusal(self) -> DropinError | None:
        """Why these agents cannot be served under governance, if they cannot."""
        own_models = [a.name for a in self.agents if isinstance(a.model, Model)]
        if own_models:
            # A Model instance carries its own client: its calls would bypass our upstream.
            return DropinError(
                "ungoverned_model",
                f"agent(s) {', '.join(own_models)} bring their own Model instance and client",
                'Set model to a model name string (e.g. model="gpt-4.1"): the gateway supplies '
                "the upstream.",
            )
        if self.problems:
            return DropinError(
                "ungovernable_tool",
                "; ".join(self.problems) + " (the gateway cannot govern it)",
                " ".join(self.remediations),
            )
        if self.hidden:
            return DropinError(
                "hidden_agent",
                "; ".join(self.hidden)
                + ": the gateway cannot see its tools to list and check them",
                "Define each such agent as a module-level Agent of the drop-in (a handoff can also "
                "take the Agent itself: handoffs=[billing]).",
            )
        return None


def linked(agent: Agent[Any]) -> tuple[list[Agent[Any]], list[str]]:
    """The agents ``agent`` hands off to or calls as a tool: those it holds, and those it names.

    An agent put straight into ``handoffs`` is held; a ``handoff()`` object and an ``as_tool()``
    tool give only the name of theirs.
    """
    held: list[Agent[Any]] = []
    named: list[str] = []
    for target in agent.handoffs:
        if isinstance(target, Agent):
            held.append(target)
        elif isinstance(target, Handoff):
            named.append(target.agent_name)
    for tool in agent.tools:
        origin = get_function_tool_origin(tool) if isinstance(tool, FunctionTool) else None
        if origin is not None and origin.type is ToolOriginType.AGENT_AS_TOOL and origin.agent_name:
            named.append(origin.agent_name)
    return held, named


def children(agent: Agent[Any], known: Known) -> tuple[list[Agent[Any]], list[str]]:
    """The agents ``agent`` can hand off to or call as a tool, and the names not in ``known``."""
    found, names = linked(agent)
    missing: list[str] = []
    for name in names:
        if known.get(name):
            found.extend(known[name])
        else:
            missing.append(name)
    return found, missing


def inspect_agent(agent: Agent[Any], graph: AgentGraph) -> None:
    """Add ``agent``, its function tools and what cannot be governed of it to ``graph``."""
    graph.agents.append(agent)
    for tool in agent.tools:
        if isinstance(tool, FunctionTool):
            graph.tools.append(tool)
        elif type(tool) in HOSTED_NAMES:
            graph.hosted.append(HOSTED_NAMES[type(tool)])
        else:
            kind = type(tool).__name__
            graph.problem(
                f"agent '{agent.name}' uses the hosted tool {kind}",
                f"Remove {kind} and {USE_GATEWAY_TOOL}, or a local @function_tool.",
            )
    for server in getattr(agent, "mcp_servers", None) or []:
        allowed = _mcp_allowed(server)
        if allowed is not None:
            graph.mcp_tools.extend(allowed)
            continue
        label = getattr(server, "name", type(server).__name__)
        graph.problem(
            f"agent '{agent.name}' uses the MCP server '{label}' without gateway governance",
            MCP_FIX,
        )


def walk(entry: Agent[Any], known: Known) -> AgentGraph:
    graph = AgentGraph()
    seen: set[int] = set()
    pending = [entry]
    while pending:
        agent = pending.pop()
        if id(agent) in seen:
            continue
        seen.add(id(agent))
        inspect_agent(agent, graph)
        found, missing = children(agent, known)
        graph.hidden.extend(
            f"agent '{agent.name}' hands off to or calls agent '{name}', which is not a "
            "module-level Agent of the drop-in"
            for name in missing
        )
        pending.extend(found)
    return graph


def needs_wrapping(tool: FunctionTool) -> bool:
    """Not a gateway tool (governed already) nor a client's (the gateway never runs it)."""
    return not is_gateway_tool(tool) and not is_client_tool(tool)


def govern_tools(graph: AgentGraph) -> None:
    for tool in graph.tools:
        if needs_wrapping(tool):
            govern_function_tool(tool)


def govern(entry: Agent[Any], known: Known) -> AgentGraph:
    """Wrap every function tool reachable from ``entry``; raise ``DropinError`` if any cannot be."""
    graph = walk(entry, known)
    refusal = graph.refusal()
    if refusal is not None:
        raise refusal
    govern_tools(graph)
    return graph
