"""Declarative drop-in agents (``<root>/<name>/agent.toml``) and the gateway's own tool loop.

``agent.toml``::

    model = "gpt-4o-mini"          # the upstream model
    instructions = "You are ..."   # first system message
    tools = ["get_time"]           # gateway tool names (globs allowed)
    max_tool_hops = 4              # optional; defaults to settings.max_tool_hops
    description = "..."            # optional

Each hop streams from the upstream; gateway tool calls are run through ``ToolManager`` in
parallel and their results appended for the next hop. They never reach the client as tool
calls: each is announced by ``ToolNotice`` items (streamed only to a client that opts in).
Calls to tools the client sent in ``tools`` end the answer with ``finish_reason:
"tool_calls"``, as OpenAI does; in a turn that calls both kinds the gateway runs its own first.
"""

from __future__ import annotations

import asyncio
import hashlib
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from app.errors import Unprocessable
from app.ports.chat_backend import (
    ChatRequest,
    Delta,
    Finish,
    Held,
    TextDelta,
    ToolCallDelta,
    ToolNotice,
    Usage,
)
from app.ports.request_context import RequestContext
from app.ports.upstream import Upstream
from app.services.agents import AgentEntry, DropinError
from app.services.held import client_call_id
from app.services.passthrough import extra_fields, upstream_hop
from app.services.tools import ToolCallAborted
from app.settings import Settings

REMEDIATION = (
    'Fix agent.toml: it needs model = "<upstream model>" and instructions = "..."; '
    'optional tools = ["<gateway tool>", ...] and max_tool_hops = <int >= 1>.'
)


class AgentSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    model: str
    instructions: str
    tools: tuple[str, ...] = ()
    max_tool_hops: int | None = None
    description: str = ""


def parse_agent_toml(text: str) -> AgentSpec:
    """``agent.toml`` text → spec; ``DropinError("invalid_agent_toml", ...)`` when it is wrong."""
    try:
        data = tomllib.loads(text)
        spec = msgspec.convert(data, AgentSpec)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise DropinError("invalid_agent_toml", f"agent.toml: {exc}", REMEDIATION) from exc
    if not spec.model.strip():
        raise DropinError("invalid_agent_toml", "agent.toml: model is empty", REMEDIATION)
    if spec.max_tool_hops is not None and spec.max_tool_hops < 1:
        raise DropinError("invalid_agent_toml", "agent.toml: max_tool_hops < 1", REMEDIATION)
    return spec


def load_declarative(
    path: Path, name: str, *, upstream: Upstream, tools: Any, settings: Settings
) -> AgentEntry:
    """Load ``path`` (an ``agent.toml``) as the agent ``name``. Raises ``DropinError``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DropinError("invalid_agent_toml", f"cannot read {path}: {exc}", REMEDIATION) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DropinError("invalid_agent_toml", "agent.toml is not UTF-8", REMEDIATION) from exc
    spec = parse_agent_toml(text)
    backend = DeclarativeBackend(
        name=name,
        spec=spec,
        upstream=upstream,
        max_tool_hops=spec.max_tool_hops or settings.max_tool_hops,
    )
    return AgentEntry(
        name=name,
        kind="declarative",
        path=str(path),
        backend=backend,
        tools=spec.tools,
        digest=hashlib.sha256(raw).hexdigest(),
        description=spec.description,
    )


@dataclass(slots=True)
class _HopCall:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    client: bool = False


async def _run_tools(manager: Any, calls: list[_HopCall]) -> list[str]:
    """Run the hop's gateway tool calls in parallel; each result is the text the model reads."""
    if manager is None:
        return [f"Tool '{c.name}' is not available." for c in calls]
    try:
        results = await asyncio.gather(
            *(manager.call_gateway_tool(c.name, "".join(c.arguments), call_id=c.id) for c in calls)
        )
    except ToolCallAborted as exc:
        raise Unprocessable(exc.message, code="tool_call_aborted") from exc
    return [str(r) for r in results]


@dataclass(slots=True)
class DeclarativeBackend:
    """Runs a declarative agent: instructions, offered tools, and the tool loop."""

    name: str
    spec: AgentSpec
    upstream: Upstream
    max_tool_hops: int

    async def run(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[Delta]:
        manager = ctx.tool_manager
        offered: list[dict[str, Any]] = []
        if manager is not None and self.spec.tools:
            offered = manager.openai_tools(manager.offered(ctx.principal, self.spec.tools))
        client_tools = list(request.tools or [])
        client_names = frozenset(
            str((t.get("function") or {}).get("name", "")) for t in client_tools
        )
        # A client tool of the same name as a gateway tool is the client's: theirs to answer.
        offered = [t for t in offered if t["function"]["name"] not in client_names]
        tools = offered + client_tools
        extra = extra_fields(request.raw, drop=frozenset({"tools"}))
        if tools:
            extra["tools"] = tools
        else:
            extra.pop("tool_choice", None)
            extra.pop("parallel_tool_calls", None)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self.spec.instructions},
            *request.messages,
        ]
        base = 0  # one tool-call index counter across every hop of the answer
        client_calls = 0
        first_own = len(messages)  # messages from here on are the gateway's own
        for hop in range(1, self.max_tool_hops + 2):
            calls: dict[int, _HopCall] = {}
            text: list[str] = []
            finish = "stop"
            async for item in upstream_hop(
                self.upstream,
                ctx,
                hop=hop,
                model=self.spec.model,
                messages=messages,
                extra=extra,
                stream=request.stream,
                client_tools=client_names,
            ):
                if isinstance(item, ToolCallDelta):
                    call = calls.get(item.index)
                    first = call is None
                    if call is None:
                        call_id = item.id or f"call_{ctx.request_id[-12:]}_{base + len(calls)}"
                        if item.client:  # an id that finds this request's held messages
                            call_id = client_call_id(ctx.request_id, client_calls)
                            client_calls += 1
                        call = calls[item.index] = _HopCall(
                            call_id, item.name or "", client=item.client
                        )
                    call.arguments.append(item.arguments)
                    if call.client:  # the gateway's own calls are never the client's
                        position = base + list(calls).index(item.index)
                        yield msgspec.structs.replace(
                            item, index=position, id=call.id if first else None
                        )
                elif isinstance(item, Finish):
                    finish = item.reason
                elif isinstance(item, Usage):
                    yield item
                else:
                    if isinstance(item, TextDelta):
                        text.append(item.content)
                    yield item
            base += len(calls)
            if not calls:
                yield Finish(finish)
                return
            ordered = list(calls.values())
            own = [c for c in ordered if not c.client]
            has_client = len(own) < len(ordered)
            if hop > self.max_tool_hops and not has_client:
                break
            for c in own:
                yield ToolNotice(c.id, c.name, "".join(c.arguments), "started")
            results = await _run_tools(manager, own) if own else []
            for c, result in zip(own, results, strict=True):
                yield ToolNotice(c.id, c.name, "".join(c.arguments), ctx.outcome(c.id), result)
            messages.append(
                {
                    "role": "assistant",
                    "content": "".join(text) or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": "".join(c.arguments)},
                        }
                        for c in ordered
                    ],
                }
            )
            messages.extend(
                {"role": "tool", "tool_call_id": c.id, "content": result}
                for c, result in zip(own, results, strict=True)
            )
            if has_client:  # the client runs its calls; what it never saw is kept in the log
                yield Held(messages[first_own:])
                yield Finish("tool_calls")
                return
        raise Unprocessable(
            f"The agent '{self.name}' made more than {self.max_tool_hops} rounds of tool calls "
            "without answering (max_tool_hops).",
            code="max_tool_hops_exceeded",
        )
