"""A minimal, fast Chat Completions upstream for benchmarks: raw asyncio HTTP/1.1, keep-alive.

Every answer is precomputed bytes: ``POST …/chat/completions`` returns one JSON completion, or
with ``"stream": true`` a 35-chunk SSE stream (a role chunk, 33 content chunks, a finish chunk;
plus a usage chunk when ``stream_options.include_usage`` is set) and ``data: [DONE]``. No
framework and no JSON parsing, so it costs a few tens of microseconds per request and is never
the bottleneck. Run: ``python -m bench.fake_upstream --port 9100 [--chunk-gap-ms 0]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import socket
import time
from typing import Any, cast

CONTENT_CHUNKS = 33  # + role chunk + finish chunk = 35 chunks, as in the benchmark issue
MODEL = "bench-model"
COMPLETION_ID = "chatcmpl-bench"
_STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')
_USAGE_TRUE = re.compile(rb'"include_usage"\s*:\s*true')
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)
_USAGE = {"prompt_tokens": 12, "completion_tokens": CONTENT_CHUNKS, "total_tokens": 45}


def _words() -> list[str]:
    return [f"word{i} " for i in range(CONTENT_CHUNKS)]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def completion_body() -> bytes:
    """The non-streamed answer: the same text the stream carries, in one message."""
    return _dumps(
        {
            "id": COMPLETION_ID,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(_words())},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _USAGE,
        }
    )


def stream_events(include_usage: bool) -> list[bytes]:
    """The SSE events of one streamed answer, each ``data: <json>\\n\\n``, ending with [DONE]."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": COMPLETION_ID,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": word}) for word in _words()]
    chunks.append(chunk({}, "stop"))
    if include_usage:
        usage = chunk({})
        usage["choices"] = []
        usage["usage"] = _USAGE
        chunks.append(usage)
    return [b"data: " + _dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


def _chunked(events: list[bytes]) -> list[bytes]:
    """Each SSE event as one HTTP/1.1 chunk, then the last-chunk marker."""
    return [b"%x\r\n%s\r\n" % (len(e), e) for e in events] + [b"0\r\n\r\n"]


_JSON_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
    b"x-request-id: fake\r\n\r\n"
)
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


class Answers:
    """Every response the server sends, as bytes (whole) and as per-chunk pieces (for gaps)."""

    def __init__(self) -> None:
        body = completion_body()
        self.whole = (_JSON_HEAD % len(body)) + body
        self.stream_parts = {u: [_SSE_HEAD, *_chunked(stream_events(u))] for u in (False, True)}
        self.stream = {u: b"".join(p) for u, p in self.stream_parts.items()}
        models = _dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        self.models = (_JSON_HEAD % len(models)) + models
        missing = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
        self.not_found = (_JSON_HEAD % len(missing)).replace(b"200 OK", b"404 Not Found") + missing


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection: parse requests (pipelined ones too), write precomputed bytes."""

    def __init__(self, answers: Answers, gap_s: float) -> None:
        self.answers = answers
        self.gap_s = gap_s
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they have the same methods.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[: end + 2]
            match = _CONTENT_LENGTH.search(head)
            size = int(match.group(1)) if match else 0
            if len(self.buffer) < end + 4 + size:
                return
            body = self.buffer[end + 4 : end + 4 + size]
            self.buffer = self.buffer[end + 4 + size :]
            self._answer(head, body)
            if _CLOSE.search(head) and self.transport is not None:
                self.transport.close()
                return

    def _answer(self, head: bytes, body: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        line = head[: head.find(b"\r\n")]
        if line.startswith(b"GET ") and b"/models" in line:
            transport.write(self.answers.models)
        elif not (line.startswith(b"POST ") and b"/chat/completions" in line):
            transport.write(self.answers.not_found)
        elif not _STREAM_TRUE.search(body):
            transport.write(self.answers.whole)
        elif self.gap_s <= 0:
            transport.write(self.answers.stream[bool(_USAGE_TRUE.search(body))])
        else:
            parts = self.answers.stream_parts[bool(_USAGE_TRUE.search(body))]
            transport.write(parts[0] + parts[1])
            loop = asyncio.get_running_loop()
            for i, part in enumerate(parts[2:], start=1):
                loop.call_later(self.gap_s * i, self._write_later, transport, part)

    @staticmethod
    def _write_later(transport: asyncio.Transport, part: bytes) -> None:
        if not transport.is_closing():
            transport.write(part)


async def serve(host: str, port: int, gap_ms: float) -> None:
    answers = Answers()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: UpstreamProtocol(answers, gap_ms / 1000), host, port, backlog=1024
    )
    print(f"fake upstream listening on http://{host}:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument(
        "--chunk-gap-ms",
        type=float,
        default=0.0,
        help="delay between stream chunks (0: the whole stream in one write, cheapest)",
    )
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # the stdlib loop is fast enough, just a little less so
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve(args.host, args.port, args.chunk_gap_ms))


if __name__ == "__main__":
    main()
