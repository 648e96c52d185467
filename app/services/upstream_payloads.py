"""What the upstream answers, as minimal msgspec Structs (OpenAI's names) for the hot path.

Only the fields the gateway reads are declared; msgspec skips the rest without building them.
A field of the wrong type raises ``msgspec.ValidationError`` (a ``msgspec.DecodeError``).
"""

from __future__ import annotations

from typing import Any

import msgspec


class FunctionPart(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCallPart(msgspec.Struct):
    """A streamed tool-call fragment (``index`` says which call it continues)."""

    index: int = 0
    id: str | None = None
    function: FunctionPart | None = None


class ChunkDelta(msgspec.Struct):
    content: str | None = None
    tool_calls: list[ToolCallPart] | None = None


class ChunkChoice(msgspec.Struct):
    index: int = 0
    delta: ChunkDelta | None = None
    finish_reason: str | None = None


class CompletionUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ChatCompletionChunk(msgspec.Struct):
    """One ``chat.completion.chunk``; ``error`` is set when the upstream reports one mid-stream."""

    choices: list[ChunkChoice] | None = None
    usage: CompletionUsage | None = None
    error: Any = None


class MessageToolCall(msgspec.Struct):
    id: str | None = None
    function: FunctionPart | None = None


class Message(msgspec.Struct):
    content: str | None = None
    tool_calls: list[MessageToolCall] | None = None


class CompletionChoice(msgspec.Struct):
    message: Message | None = None
    finish_reason: str | None = None


class ChatCompletion(msgspec.Struct):
    """A non-streamed ``chat.completion``."""

    choices: list[CompletionChoice] | None = None
    usage: CompletionUsage | None = None


class ResponseUsage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None


class ResponseOutputItem(msgspec.Struct):
    type: str = ""


class Response(msgspec.Struct):
    """A Responses API ``response`` object (non-streamed, or inside a lifecycle event)."""

    status: str | None = None
    output: list[ResponseOutputItem] | None = None
    usage: ResponseUsage | None = None
    error: Any = None


class ResponseStreamEvent(msgspec.Struct):
    """One Responses API stream event (``response.output_text.delta``, ``response.completed``…)."""

    type: str = ""
    response: Response | None = None
    message: str | None = None  # on ``error`` events


decode_chunk = msgspec.json.Decoder(ChatCompletionChunk).decode
decode_completion = msgspec.json.Decoder(ChatCompletion).decode
decode_response = msgspec.json.Decoder(Response).decode
decode_response_event = msgspec.json.Decoder(ResponseStreamEvent).decode
