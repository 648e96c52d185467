"""The seam between the chat-completions service and whatever produces an answer.

A backend (upstream passthrough, a declarative agent, an Agents SDK drop-in) turns a parsed
``ChatRequest`` into an async stream of ``Delta`` items. The chat service owns everything
around it: keys and ACL, the request's events, chunk framing (role chunk, ids, ``[DONE]``),
assembling non-streamed answers, durability before the end of a response.

Backends raise ``app.errors.GatewayError`` subclasses; an error raised before the first
delta becomes a real HTTP status, a later one an SSE error event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import msgspec

from app.ports.request_context import RequestContext


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A validated chat-completions request. ``raw`` is the body as sent (unknown fields too)."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    tools: list[dict[str, Any]] | None = None
    max_tokens: int | None = None
    raw: dict[str, Any] = {}
    show_tools: bool = False  # ``x-ledgergate-show-tools: true``: stream gateway tool notices
    # The Responses route's input items (instructions first, then the conversation): SDK
    # drop-ins run on them as sent instead of on ``messages`` converted back.
    items: list[dict[str, Any]] | None = None
    # The Responses route's body for an upstream that speaks the Responses API itself.
    responses: dict[str, Any] | None = None


class TextDelta(msgspec.Struct, frozen=True, tag="text"):
    content: str


class ToolCallDelta(msgspec.Struct, frozen=True, tag="tool_call"):
    """A tool-call fragment. ``id``/``name`` only on a call's first fragment.

    ``index`` counts across the whole response (several model calls feed one client stream).
    Only calls to tools the client sent in ``tools`` reach the client (they end the response
    with ``finish_reason: "tool_calls"``); a call with ``client=False`` is dropped.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    client: bool = False


class ToolNotice(msgspec.Struct, frozen=True, tag="tool_notice"):
    """A tool the gateway runs itself (gateway tool, SDK agent tool, handoff): never a
    ``tool_calls`` item. Streamed as the vendor delta key ``ledgergate_tool_call`` only when
    the client asked for it; otherwise it is in the log alone.
    """

    id: str
    name: str
    arguments: str
    status: str  # "started" | "completed" | "failed"
    output: str | None = None

    def payload(self) -> dict[str, Any]:
        body = {"id": self.id, "name": self.name, "arguments": self.arguments}
        body["status"] = self.status
        if self.output is not None:
            body["output"] = self.output
        return body


class Held(msgspec.Struct, frozen=True, tag="held"):
    """Messages the client never saw (the gateway's own tool calls and results), kept in the
    log with an answer that ends with the client's tool calls; see ``app.services.held``."""

    messages: list[dict[str, Any]]


class Finish(msgspec.Struct, frozen=True, tag="finish"):
    reason: str  # "stop" | "length" | "tool_calls" | "content_filter"


class Usage(msgspec.Struct, frozen=True, tag="usage"):
    prompt_tokens: int
    completion_tokens: int


Delta = TextDelta | ToolCallDelta | ToolNotice | Held | Finish | Usage


class ChatBackend(Protocol):
    """Produces one answer. Exactly one ``Finish`` ends a successful stream."""

    def run(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[Delta]: ...
