"""Rebuild one request from its stream: input, ACL decisions, upstream and tool calls, every
chunk the client was sent, and the answer those chunks assemble to."""

from __future__ import annotations

from typing import Any

import msgspec

from domain import events as ev
from domain.ports import EventStore, RecordedEvent
from domain.upcasting import decode

TERMINAL_STATUS = {
    ev.RequestCompleted.TYPE: "completed",
    ev.RequestFailed.TYPE: "failed",
    ev.RequestCancelled.TYPE: "cancelled",
    ev.RequestInterrupted.TYPE: "interrupted",
}


class AclDecision(msgspec.Struct, kw_only=True):
    position: int
    action: str
    resource: str
    decision: str
    rule: str
    agent: str


class UpstreamCall(msgspec.Struct, kw_only=True):
    hop: int
    model: str
    stream: bool
    upstream: str
    outcome: str  # "completed" | "failed" | "open"
    duration_ms: float | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    error_type: str | None = None
    message: str | None = None
    status: int | None = None


class ToolCall(msgspec.Struct, kw_only=True):
    call_id: str
    tool: str
    source: str
    agent: str
    arguments: str
    outcome: str  # "ok" | "error" | "denied" | "timeout" | "open"
    result: str | None = None
    error_type: str | None = None
    message: str | None = None
    duration_ms: float | None = None


class ReplayedRequest(msgspec.Struct, kw_only=True):
    """One request as the log tells it (``GET /admin/requests/{id}``, ``ledgergate replay``)."""

    request_id: str
    model: str
    key_id: str
    target: str
    api: str  # the route: "chat_completions" | "responses"
    stream: bool
    received_at: str
    status: str  # "completed" | "failed" | "cancelled" | "interrupted" | "in_flight"
    input: dict[str, Any]
    acl: list[AclDecision]
    upstream_calls: list[UpstreamCall]
    tool_calls: list[ToolCall]
    chunks: list[dict[str, Any]]  # every chat.completion.chunk sent, in order
    answer: dict[str, Any] | None  # the assembled assistant message
    finish_reason: str | None
    usage: dict[str, Any] | None
    terminal: dict[str, Any] | None  # the terminal event's payload
    events: int
    first_position: int
    last_position: int


def _ms(us: int) -> float:
    return us / 1000


async def read_request(store: EventStore, request_id: str) -> list[RecordedEvent]:
    stream = ev.request_stream(request_id)
    events: list[RecordedEvent] = []
    while page := await store.read_stream(stream, len(events), 1000):
        events.extend(page)
    return events


async def replay(store: EventStore, request_id: str) -> ReplayedRequest | None:
    """The request rebuilt from ``request:<id>``; None when the log has no such stream."""
    recs = await read_request(store, request_id)
    if not recs:
        return None
    decoded = [(r, decode(r.type, r.schema_version, r.data)) for r in recs]
    received = next((e for _, e in decoded if isinstance(e, ev.RequestReceived)), None)
    terminal = next(((r, e) for r, e in decoded if r.type in TERMINAL_STATUS), None)
    completed = terminal[1] if terminal and isinstance(terminal[1], ev.RequestCompleted) else None
    model = completed.model if completed else (received.model if received else "")
    created = completed.created if completed else 0
    body = received.body if received else {}
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    out = ReplayedRequest(
        request_id=request_id,
        model=received.model if received else model,
        key_id=received.key_id if received else "",
        target=received.target if received else "unknown",
        api=received.api if received else ev.CHAT_API,
        stream=received.stream if received else False,
        received_at=recs[0].recorded_at,
        status=TERMINAL_STATUS[terminal[0].type] if terminal else "in_flight",
        input=body,
        acl=[],
        upstream_calls=[],
        tool_calls=[],
        chunks=[],
        answer=None,
        finish_reason=completed.finish_reason if completed else None,
        usage=None,
        terminal=msgspec.to_builtins(terminal[1]) if terminal else None,
        events=len(recs),
        first_position=recs[0].position,
        last_position=recs[-1].position,
    )
    hops: dict[int, UpstreamCall] = {}
    calls: dict[str, ToolCall] = {}
    head = {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": model}
    for rec, e in decoded:
        if isinstance(e, ev.AclDecided):
            out.acl.append(
                AclDecision(
                    position=rec.position,
                    action=e.action,
                    resource=e.resource,
                    decision=e.decision,
                    rule=e.rule,
                    agent=e.agent,
                )
            )
        elif isinstance(e, ev.UpstreamCallStarted):
            hops[e.hop] = UpstreamCall(
                hop=e.hop, model=e.model, stream=e.stream, upstream=e.upstream, outcome="open"
            )
            out.upstream_calls.append(hops[e.hop])
        elif isinstance(e, ev.UpstreamCallCompleted) and e.hop in hops:
            call = hops[e.hop]
            call.outcome, call.duration_ms = "completed", _ms(e.duration_us)
            call.finish_reason, call.ttft_ms = e.finish_reason, _ms(e.ttft_us)
            call.prompt_tokens, call.completion_tokens = e.prompt_tokens, e.completion_tokens
        elif isinstance(e, ev.UpstreamCallFailed) and e.hop in hops:
            call = hops[e.hop]
            call.outcome, call.duration_ms = "failed", _ms(e.duration_us)
            call.error_type, call.message, call.status = e.error_type, e.message, e.status
        elif isinstance(e, ev.ToolInvoked):
            calls[e.call_id] = ToolCall(
                call_id=e.call_id,
                tool=e.tool,
                source=e.source,
                agent=e.agent,
                arguments=e.arguments,
                outcome="open",
            )
            out.tool_calls.append(calls[e.call_id])
        elif isinstance(e, ev.ToolCompleted | ev.ToolFailed):
            tool = calls.get(e.call_id)
            if tool is None:  # a denial may end a call that was never invoked
                tool = calls[e.call_id] = ToolCall(
                    call_id=e.call_id,
                    tool=e.tool,
                    source=e.source,
                    agent=e.agent,
                    arguments="",
                    outcome="open",
                )
                out.tool_calls.append(tool)
            tool.outcome, tool.duration_ms = e.outcome, _ms(e.duration_us)
            if isinstance(e, ev.ToolCompleted):
                tool.result = e.result
            else:
                tool.error_type, tool.message = e.error_type, e.message
        elif isinstance(e, ev.StreamDelta):
            out.chunks.append(_chunk(head, e, include_usage))
            if e.usage is not None:
                out.usage = e.usage
    if out.stream:
        out.answer = assemble(out.chunks)
    elif completed is not None:
        out.answer = completed.message
    if completed is not None and out.usage is None:
        out.usage = {
            "prompt_tokens": completed.prompt_tokens,
            "completion_tokens": completed.completion_tokens,
            "total_tokens": completed.prompt_tokens + completed.completion_tokens,
        }
    return out


def _chunk(head: dict[str, Any], e: ev.StreamDelta, include_usage: bool) -> dict[str, Any]:
    # The same JSON objects app.api.wire.ChunkFramer sent, in the same member order.
    if e.usage is not None:
        return {**head, "choices": [], "usage": e.usage}
    choice = {"index": 0, "delta": e.delta, "logprobs": None, "finish_reason": e.finish_reason}
    chunk = {**head, "choices": [choice]}
    if include_usage:
        chunk["usage"] = None
    return chunk


def assemble(chunks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Fold chunks into one message, as the ``openai`` client's stream helpers do."""
    role: str | None = None
    content: list[str] = []
    tool_calls: dict[int, dict[str, Any]] = {}
    seen = False
    for chunk in chunks:
        for choice in chunk.get("choices", ()):
            seen = True
            delta = choice.get("delta") or {}
            role = delta.get("role") or role
            if delta.get("content"):
                content.append(delta["content"])
            for item in delta.get("tool_calls") or ():
                call = tool_calls.setdefault(
                    item["index"],
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                if item.get("id"):
                    call["id"] = item["id"]
                if item.get("type"):
                    call["type"] = item["type"]
                fn = item.get("function") or {}
                call["function"]["name"] += fn.get("name") or ""
                call["function"]["arguments"] += fn.get("arguments") or ""
    if not seen:
        return None
    message: dict[str, Any] = {"role": role or "assistant", "content": "".join(content) or None}
    if tool_calls:
        message["tool_calls"] = [tool_calls[i] for i in sorted(tool_calls)]
    return message
