"""Hosted tools (the upstream runs them: web search, file search) on a Responses API call.

An agent's ``WebSearchTool``/``FileSearchTool`` reach the upstream as ``{"type": "web_search"}``
/ ``{"type": "file_search"}`` tools of a ``POST /responses`` call; the upstream runs them and
answers with ``web_search_call``/``file_search_call`` items. The gateway governs them as it
governs its own tools, by name (``web_search``, ``file_search``) against the key's tool globs
and the agent's tools: a tool the request may not use is never offered to the model (an
``acl.decided`` deny is recorded for each model call it is withheld from); each use the
upstream reports is recorded as ``acl.decided`` (allow), ``tool.invoked`` and
``tool.completed`` (or ``tool.failed``) with ``source: "hosted"``. The upstream does not say
how long a search took: ``duration_us`` is 0. ``upstream_calls.recorded_call`` applies this to
every agent's Responses call, wherever the agent runs (the request's context says whose it is).
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.errors import DropinUnavailable, GatewayError
from app.ports.request_context import RequestContext, current_request
from app.ports.upstream import UpstreamCall
from app.services.tools import tool_acl_event
from domain.events import ToolCompleted, ToolFailed, ToolInvoked
from domain.policy import PolicyDecision, decide_tool

# A Responses tool type → the tool's name in policy and in the log.
TOOL_NAMES = {
    "web_search": "web_search",
    "web_search_preview": "web_search",
    "file_search": "file_search",
}
# An output item type → the tool that made it.
CALL_ITEMS = {"web_search_call": "web_search", "file_search_call": "file_search"}
_RESULT_MAX = 4096
_NOT_THERE = frozenset({404, 405, 501})  # as responses_upstream.falls_back
_ENDS = frozenset({"response.completed", "response.incomplete"})


class _Item(msgspec.Struct):
    type: str = ""
    id: str = ""
    status: str = ""
    action: Any = None  # web_search_call: {"type": "search", "query": ...}
    queries: Any = None  # file_search_call
    results: Any = None


class _Response(msgspec.Struct):
    output: list[_Item] = []


class _Event(msgspec.Struct):
    type: str = ""
    response: _Response | None = None


_decode_response = msgspec.json.Decoder(_Response).decode
_decode_event = msgspec.json.Decoder(_Event).decode
_encode = msgspec.json.encode


def applies(call: UpstreamCall) -> RequestContext | None:
    """The request whose agent makes ``call``, when its hosted tools are to be governed."""
    ctx = current_request.get()
    # A client's own body never carries them (refused at admission): only agents' calls.
    return ctx if call.api == "responses" and ctx is not None and ctx.agent else None


async def offer(ctx: RequestContext, call: UpstreamCall) -> UpstreamCall:
    """``call`` without the hosted tools the request may not use, each withheld one recorded."""
    tools = call.body.get("tools")
    if not isinstance(tools, list):
        return call
    kept: list[Any] = []
    for tool in tools:
        kind = tool.get("type") if isinstance(tool, dict) else None
        name = TOOL_NAMES.get(kind) if isinstance(kind, str) else None
        if name is None:
            kept.append(tool)
            continue
        decision = _decide(ctx, name)
        if decision.allowed:
            kept.append(tool)
        else:
            await ctx.recorder.record(tool_acl_event(ctx, name, decision))
    if len(kept) == len(tools):
        return call
    body = {**call.body, "tools": kept}
    if not kept:
        del body["tools"]
        body.pop("tool_choice", None)
    return UpstreamCall(api=call.api, body=body)


async def observe(ctx: RequestContext, data: bytes, *, stream: bool) -> None:
    """Record the hosted calls of a finished answer (``data``: its last event or body)."""
    if b"_search_call" not in data:  # the common case costs one scan, no decoding
        return
    if stream:
        event = _decode_event(data)
        if event.type not in _ENDS or event.response is None:
            return
        items = event.response.output
    else:
        items = _decode_response(data).output
    for item in items:
        name = CALL_ITEMS.get(item.type)
        if name is not None:
            await _record(ctx, name, item)


def _decide(ctx: RequestContext, name: str) -> PolicyDecision:
    return decide_tool(ctx.principal, ctx.agent_tools, name)


async def _record(ctx: RequestContext, name: str, item: _Item) -> None:
    asked = item.action if item.action is not None else {"queries": item.queries}
    acl = tool_acl_event(ctx, name, _decide(ctx, name))
    invoked = ToolInvoked(
        call_id=item.id,
        tool=name,
        source="hosted",
        agent=ctx.agent,
        arguments=_encode(asked).decode(),
        request_id=ctx.request_id,
    )
    ended: ToolCompleted | ToolFailed
    if item.status == "failed":
        ended = ToolFailed(
            call_id=item.id,
            tool=name,
            source="hosted",
            agent=ctx.agent,
            duration_us=0,
            outcome="error",
            error_type="hosted_tool_failed",
            message=f"The upstream's {name} failed.",
            request_id=ctx.request_id,
        )
    else:
        result = _encode(item.results).decode() if item.results is not None else ""
        ended = ToolCompleted(
            call_id=item.id,
            tool=name,
            source="hosted",
            agent=ctx.agent,
            duration_us=0,
            result=result[:_RESULT_MAX],
            request_id=ctx.request_id,
        )
    await ctx.recorder.record(acl, invoked, ended)


def no_responses_api(exc: BaseException, model: str) -> bool:
    """Whether ``exc`` says the upstream has no Responses API (or may not be sent to it).

    A 404 that names the model is an unknown model (passed on as such), not a missing route.
    """
    return (
        isinstance(exc, GatewayError)
        and (getattr(exc, "upstream_status", 0) or exc.status) in _NOT_THERE
        and model not in exc.message
    )


def unavailable(tools: list[str]) -> DropinUnavailable:
    """The error of an agent whose hosted tools have no Responses API to run on."""
    names = ", ".join(sorted(set(tools))) or "hosted tools"
    return DropinUnavailable(
        f"This agent uses {names}, which only an upstream's Responses API runs, and the gateway "
        "has none to call (LEDGERGATE_UPSTREAM_API=chat_completions, or the upstream answered "
        "404 at /responses). Set LEDGERGATE_UPSTREAM_API=auto with an upstream that has it "
        "(OpenAI's), or replace the hosted tool with a gateway tool (use_gateway_tool) in the "
        "drop-in.",
        code="hosted_tools_unavailable",
    )
