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

from app.context import RequestContext


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A validated chat-completions request. ``raw`` is the body as sent (unknown fields too)."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    tools: list[dict[str, Any]] | None = None
    max_tokens: int | None = None
    raw: dict[str, Any] = {}


class TextDelta(msgspec.Struct, frozen=True, tag="text"):
    content: str


class ToolCallDelta(msgspec.Struct, frozen=True, tag="tool_call"):
    """A tool-call fragment. ``id``/``name`` only on a call's first fragment.

    ``index`` counts across the whole response (several model calls feed one client stream).
    ``client`` is True for tools the client sent in ``tools`` (they end the response with
    ``finish_reason: "tool_calls"``); tools the gateway runs itself never do.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    client: bool = False


class Finish(msgspec.Struct, frozen=True, tag="finish"):
    reason: str  # "stop" | "length" | "tool_calls" | "content_filter"


class Usage(msgspec.Struct, frozen=True, tag="usage"):
    prompt_tokens: int
    completion_tokens: int


Delta = TextDelta | ToolCallDelta | Finish | Usage


class ChatBackend(Protocol):
    """Produces one answer. Exactly one ``Finish`` ends a successful stream."""

    def run(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[Delta]: ...
