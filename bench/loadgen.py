"""A small raw-socket HTTP/1.1 client measuring time to first body byte and total time per request.

wrk measures whole responses only; a stream's time to first byte (the first SSE event after the
headers) needs a client that looks at each read. Keep-alive connections, each sending one request
at a time; runs on uvloop when installed. Used by ``bench.overhead`` for streamed answers.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field


@dataclass
class Samples:
    """Per-request timings in nanoseconds, and what went wrong."""

    ttfb_ns: list[int] = field(default_factory=list)
    total_ns: list[int] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0


def build_request(host: str, port: int, path: str, body: bytes, key: str | None) -> bytes:
    auth = f"authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"{auth}content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, int]:
    """Send one request, read its whole response; return (ttfb_ns, total_ns)."""
    start = time.perf_counter_ns()
    writer.write(request)
    buf = b""
    while True:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("closed before the body")
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end >= 0 and len(buf) > end + 4:
            ttfb = time.perf_counter_ns() - start
            break
    head = buf[:end]
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    length = _content_length(head)
    got = len(buf) - end - 4
    tail = buf[-7:]
    while True:
        if length is not None and got >= length:
            break
        if length is None and tail.endswith(b"\r\n0\r\n\r\n"):
            break  # the last chunk of a chunked body
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("closed mid-body")
        got += len(data)
        tail = (tail + data)[-7:]
    return ttfb, time.perf_counter_ns() - start


async def _worker(host: str, port: int, request: bytes, deadline: float, out: Samples) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while time.perf_counter() < deadline:
            try:
                ttfb, total = await _exchange(reader, writer, request)
            except ConnectionError:
                out.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            out.ttfb_ns.append(ttfb)
            out.total_ns.append(total)
    finally:
        writer.close()


async def run_load(
    host: str,
    port: int,
    path: str,
    *,
    body: bytes,
    key: str | None,
    concurrency: int,
    seconds: float,
) -> Samples:
    """``concurrency`` connections sending requests back to back for ``seconds``."""
    request = build_request(host, port, path, body, key)
    out = Samples()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_worker(host, port, request, deadline, out) for _ in range(concurrency)))
    out.elapsed_s = time.perf_counter() - started
    return out


def measure(
    host: str,
    port: int,
    path: str,
    *,
    body: bytes,
    key: str | None,
    concurrency: int,
    seconds: float,
) -> Samples:
    """``run_load`` on a fresh event loop (uvloop when installed)."""
    coro = run_load(host, port, path, body=body, key=key, concurrency=concurrency, seconds=seconds)
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def percentile_ms(values_ns: list[int], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values_ns``, in milliseconds; NaN when empty."""
    if not values_ns:
        return float("nan")
    ordered = sorted(values_ns)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6
