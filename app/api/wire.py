"""Wire formats of the chat-completions API: request validation and exact response bytes.

msgspec on the hot path: a body is decoded once into builtins (so unknown OpenAI fields are kept
and passed upstream), checked against ``ChatCompletionRequest`` and turned into the service's
``ChatRequest``. Streamed chunks are framed from pre-encoded bytes, one ``data: ...\\n\\n`` each.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from app.errors import BadRequest, GatewayError
from app.services.backends import ChatRequest

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool = False


class FunctionSpec(msgspec.Struct, kw_only=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSpec(msgspec.Struct, kw_only=True):
    type: str
    function: FunctionSpec | None = None


class MessageIn(msgspec.Struct, kw_only=True):
    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    """What the gateway checks of a request. Other OpenAI fields are accepted and passed on."""

    model: str
    messages: list[MessageIn]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    tools: list[ToolSpec] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = None


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
_AT = re.compile(r"at `\$\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]+)`")


def decode_body(body: bytes) -> dict[str, Any]:
    """JSON bytes → a JSON object, or ``BadRequest`` (nothing is recorded for these)."""
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequest(
            f"We could not parse the JSON body of your request: {exc}", code="invalid_json"
        ) from exc
    if not isinstance(raw, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return raw


def validate(raw: dict[str, Any]) -> ChatRequest:
    """A decoded body → ``ChatRequest``, or ``BadRequest`` naming the offending parameter."""
    try:
        req = msgspec.convert(raw, ChatCompletionRequest)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from exc
    if not req.messages:
        raise BadRequest("'messages' must contain at least one message.", param="messages")
    if req.n not in (None, 1):
        raise BadRequest("Only n=1 is supported.", param="n", code="unsupported_value")
    options = req.stream_options
    return ChatRequest(
        model=req.model,
        messages=raw["messages"],
        stream=bool(req.stream),
        include_usage=bool(options and options.include_usage),
        tools=raw.get("tools") or None,
        max_tokens=req.max_completion_tokens or req.max_tokens,
        raw=raw,
    )


def _invalid(detail: str) -> GatewayError:
    missing = _MISSING.search(detail)
    at = _AT.search(detail)
    where = at.group(1) if at else ""
    if missing:
        param = f"{where}.{missing.group(1)}" if where else missing.group(1)
        return BadRequest(
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    return BadRequest(f"Invalid request: {detail}", param=where or None, code="invalid_type")


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
