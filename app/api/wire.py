"""Wire formats of the chat-completions API: request validation and exact response bytes.

msgspec on the hot path: a body is decoded once into builtins (so unknown OpenAI fields are kept
and passed upstream), checked by ``app.api.request.validate`` and turned into the service's
``ChatRequest``. Streamed chunks are framed from pre-encoded bytes, one ``data: ...\\n\\n`` each.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.errors import BadRequest, GatewayError


class FunctionCall(msgspec.Struct):
    name: str
    arguments: str


class ToolCall(msgspec.Struct):
    id: str
    function: FunctionCall
    type: str = "function"


class AssistantMessage(msgspec.Struct, omit_defaults=True):
    """``role``, ``content`` and ``refusal`` always appear; ``tool_calls`` only if any."""

    role: str
    content: str | None
    refusal: str | None
    tool_calls: list[ToolCall] | None = None


class Choice(msgspec.Struct):
    index: int
    message: AssistantMessage
    finish_reason: str
    logprobs: None = None


class CompletionUsage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(msgspec.Struct):
    """A non-streamed answer, as OpenAI shapes it."""

    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    object: str = "chat.completion"


class ModelCard(msgspec.Struct):
    id: str
    created: int
    owned_by: str
    object: str = "model"


class ModelList(msgspec.Struct):
    data: list[ModelCard]
    object: str = "list"


_encode = msgspec.json.Encoder().encode


MAX_DEPTH = 128
"""Deepest JSON nesting a request may have: deeper ones are refused before any recursive walk."""


def decode_body(body: bytes) -> dict[str, Any]:
    """JSON bytes → a JSON object, or ``BadRequest`` (nothing is recorded for these)."""
    try:
        raw = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        why = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise BadRequest(
            f"We could not parse the JSON body of your request: {why}", code="invalid_json"
        ) from exc
    if not isinstance(raw, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    # Fewer brackets than the limit cannot nest that deep: most bodies skip the walk.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _deeper_than(raw, MAX_DEPTH):
        raise BadRequest(
            f"We could not parse the JSON body of your request: it is nested more than"
            f" {MAX_DEPTH} levels deep.",
            code="invalid_json",
        )
    return raw


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` deep (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


class ChunkFramer:
    """Exact SSE bytes of one response's ``chat.completion.chunk`` events."""

    __slots__ = ("_head", "_tail")

    def __init__(self, request_id: str, created: int, model: str, include_usage: bool) -> None:
        self._head = b"".join(
            (
                b'data: {"id":',
                _encode(request_id),
                b',"object":"chat.completion.chunk","created":',
                str(created).encode(),
                b',"model":',
                _encode(model),
                b',"choices":[',
            )
        )
        # OpenAI sends "usage":null on every chunk once include_usage is asked for.
        self._tail = b'],"usage":null}\n\n' if include_usage else b"]}\n\n"

    def choice(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return b"".join(
            (
                self._head,
                b'{"index":0,"delta":',
                _encode(delta),
                b',"logprobs":null,"finish_reason":',
                _encode(finish_reason),
                b"}",
                self._tail,
            )
        )

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        usage = CompletionUsage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)
        return b"".join((self._head, b'],"usage":', _encode(usage), b"}\n\n"))


DONE = b"data: [DONE]\n\n"


def error_event(exc: GatewayError) -> bytes:
    """An error once streaming has begun: the ``openai`` client raises ``APIError`` on it."""
    return b"data: " + exc.to_json() + b"\n\n"


def encode(value: Any) -> bytes:
    return _encode(value)
