"""A small SSE parser: splits a byte stream into events and returns each event's ``data``.

Ours rather than httpx2's ``EventSource`` because it works on bytes (no text decoding per line)
and keeps a split ``\r\n`` straight across network reads; it is the hot path of every
streamed answer.
"""

from __future__ import annotations


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
