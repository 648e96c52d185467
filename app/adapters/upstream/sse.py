"""Chat Completions answers off the wire: SSE frames and minimal msgspec Structs for the hot path.

Only the fields the gateway reads are declared; msgspec skips the rest without building them.
A field of the wrong type raises ``msgspec.ValidationError`` (a ``msgspec.DecodeError``), which
``translate`` turns into ``upstream_bad_response``.
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


class UsagePart(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Chunk(msgspec.Struct):
    """One ``chat.completion.chunk``; ``error`` is set when the upstream reports one mid-stream."""

    choices: list[ChunkChoice] | None = None
    usage: UsagePart | None = None
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


class Completion(msgspec.Struct):
    """A non-streamed ``chat.completion``."""

    choices: list[CompletionChoice] | None = None
    usage: UsagePart | None = None


_chunk = msgspec.json.Decoder(Chunk)
_completion = msgspec.json.Decoder(Completion)


def decode_chunk(data: bytes) -> Chunk:
    """One SSE ``data`` payload as a ``Chunk`` (raises ``msgspec.DecodeError`` on bad JSON)."""
    return _chunk.decode(data)


def decode_completion(body: bytes) -> Completion:
    """A non-streamed answer body as a ``Completion``."""
    return _completion.decode(body)


class SSEFrames:
    """Splits a byte stream into SSE events and returns each event's ``data`` (lines joined by
    ``\\n``). Comments and the other fields (``event``, ``id``, ``retry``) are dropped; ``\\r\\n``,
    ``\\r`` and ``\\n`` all end a line, also when a pair is split across network reads.
    """

    __slots__ = ("_data", "_tail")

    def __init__(self) -> None:
        self._tail = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events completed by ``chunk``, in order."""
        buf = self._tail + chunk if self._tail else chunk
        if b"\r" in buf:
            # Keep a trailing CR back: it may be the first half of a CRLF.
            held = buf.endswith(b"\r")
            if held:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = buf.split(b"\n")
            last = lines.pop()
            self._tail = last + b"\r" if held else last
        else:
            lines = buf.split(b"\n")
            self._tail = lines.pop()
        out: list[bytes] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    out.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data = self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
        return out

    def close(self) -> list[bytes]:
        """What is left when the stream ends: an event the upstream did not terminate."""
        out = self.feed(b"\n\n") if (self._tail or self._data) else []
        self._tail = b""
        return out
