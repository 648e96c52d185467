"""A real HTTP fake of the OpenAI Chat Completions API on loopback, scripted by tests.

Usage (the ``fake_upstream`` fixture gives a started instance)::

    fake.text("Hello there", chunks=4, delay=0.01)    # text; streamed in 4 chunks if stream=true
    fake.tool_calls(("get_weather", {"city": "Paris"}), ("get_time", {}), fragments=3)
    fake.error(429, "Slow down", type="rate_limit_error", code="rate_limit_exceeded")
    fake.cut(after=2)          # send 2 chunks (or part of the JSON body), then drop the connection
    fake.malformed(after=1)    # send 1 good chunk, then a `data: {not json` frame
    fake.hang()                # never answer (until the client goes away or the fake stops)
    fake.default = Reply.text_of("...")                # used when the queue is empty

Each call above queues one reply; requests take replies in order. ``fake.requests`` records
every request (``method``, ``path``, lower-cased ``headers``, decoded JSON ``body``);
``fake.wait_requests(n)`` blocks until n arrived. ``fake.outcomes`` records, per response,
``"completed"``, ``"client_closed"`` (the client went away before the end), ``"cut"``
(a scripted cut) or ``"aborted"`` (a hang ended by ``stop()``), and
``fake.wait_outcome(i)`` blocks until response i has one (``await fake.await_requests(n)`` /
``await fake.await_outcome(i)`` in async tests, so the test's own loop keeps running).
``fake.base_url`` is ``http://127.0.0.1:PORT/v1``. Streams follow OpenAI's bytes: role chunk,
deltas, a ``finish_reason`` chunk, a usage chunk when ``stream_options.include_usage``, ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.support.threaded import ThreadedUvicorn


@dataclass
class Reply:
    """One scripted answer. ``kind``: text, tool_calls, error, cut, malformed, hang, trickle,
    keepalive, steady."""

    kind: str = "text"
    text: str = "Hello from the fake upstream."
    chunks: int = 3
    delay: float = 0.0
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    fragments: int = 3
    status: int = 200
    error: dict[str, Any] = field(default_factory=dict)
    after: int = 1
    hold_after: int = -1  # stream: after this frame, send nothing more until the client leaves
    pause_after: int = -1  # stream: after this frame, wait for ``resume()`` (or the client leaving)

    @classmethod
    def text_of(cls, text: str, chunks: int = 3, delay: float = 0.0) -> Reply:
        return cls("text", text=text, chunks=chunks, delay=delay)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _split(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, parts)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _words(value: Any) -> int:
    return len(json.dumps(value).split()) if not isinstance(value, str) else len(value.split())


class _QuietCuts(logging.Filter):
    """Drop uvicorn's traceback for our own scripted connection cuts (they are intended)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, ConnectionAbortedError) and str(exc) == "scripted cut")


_quiet = _QuietCuts()


class FakeUpstream:
    """See the module docstring."""

    def __init__(self) -> None:
        self.queue: deque[Reply] = deque()
        self.default = Reply()
        self.requests: list[RecordedRequest] = []
        self.outcomes: list[str | None] = []
        self._cond = threading.Condition()
        self._released: asyncio.Event | None = None
        self._resumed: asyncio.Event | None = None
        self._server = ThreadedUvicorn(self._app, lifespan="off", name="fake-upstream")
        self.base_url = f"http://127.0.0.1:{self._server.port}/v1"

    # -- scripting -----------------------------------------------------------------------
    def push(self, reply: Reply) -> None:
        self.queue.append(reply)

    def text(self, text: str, chunks: int = 3, delay: float = 0.0) -> None:
        self.push(Reply.text_of(text, chunks, delay))

    def tool_calls(
        self,
        *calls: tuple[str, dict[str, Any]],
        fragments: int = 3,
        text: str = "",
        delay: float = 0.0,
    ) -> None:
        self.push(Reply("tool_calls", text=text, calls=calls, fragments=fragments, delay=delay))

    def error(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        code: str | None = None,
    ) -> None:
        body = {"message": message, "type": type, "param": None, "code": code}
        self.push(Reply("error", status=status, error=body))

    def cut(self, after: int = 2, delay: float = 0.0) -> None:
        self.push(Reply("cut", after=after, delay=delay))

    def malformed(self, after: int = 1) -> None:
        self.push(Reply("malformed", after=after))

    def hang(self) -> None:
        self.push(Reply("hang"))

    def trickle(self, kind: str = "trickle", every: float = 0.02) -> None:
        """Answer 200 at once, then until the client leaves send, every ``every`` seconds:
        ``trickle``, one more byte of an event (or JSON body) that never ends; ``keepalive``,
        an SSE comment; ``steady``, a complete content chunk (never a finish)."""
        assert kind in ("trickle", "keepalive", "steady")
        self.push(Reply(kind, delay=every))

    # -- observing -----------------------------------------------------------------------
    def wait_requests(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"expected {n} requests, got {len(self.requests)}")
            return list(self.requests)

    def wait_outcome(self, index: int = -1, timeout: float = 10.0) -> str:
        """The outcome of response ``index`` (default: the latest request's), once known."""

        def known() -> bool:
            return bool(self.outcomes) and self.outcomes[index] is not None

        with self._cond:
            if not self._cond.wait_for(known, timeout):
                raise TimeoutError("response outcome not known in time")
            outcome = self.outcomes[index]
            assert outcome is not None
            return outcome

    async def await_requests(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """``wait_requests`` for async tests: waits in a thread so the test's loop runs on."""
        return await asyncio.to_thread(self.wait_requests, n, timeout)

    async def await_outcome(self, index: int = -1, timeout: float = 10.0) -> str:
        """``wait_outcome`` for async tests: waits in a thread so the test's loop runs on."""
        return await asyncio.to_thread(self.wait_outcome, index, timeout)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakeUpstream:
        logger = logging.getLogger("uvicorn.error")
        if _quiet not in logger.filters:
            logger.addFilter(_quiet)
        self._server.start()
        return self

    def resume(self) -> None:
        """Let streams paused by ``Reply.pause_after`` go on."""
        if self._resumed is not None:
            self._server.loop.call_soon_threadsafe(self._resumed.set)

    def stop(self) -> None:
        if self._released is not None:
            self._server.loop.call_soon_threadsafe(self._released.set)
        self._server.stop()

    # -- the ASGI app --------------------------------------------------------------------
    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if self._released is None:
            self._released = asyncio.Event()
            self._resumed = asyncio.Event()
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._cond:
            self.requests.append(RecordedRequest(scope["method"], scope["path"], headers, body))
            slot = len(self.outcomes)
            self.outcomes.append(None)
            self._cond.notify_all()
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        outcome = "cut"  # stays so when a scripted cut raises to make uvicorn drop the connection
        try:
            done = await self._respond(scope, body, send, gone)
            outcome = "completed" if done and not gone.is_set() else "client_closed"
            if not done and not gone.is_set():
                outcome = "aborted"  # a hang released by stop()
        finally:
            watcher.cancel()
            with self._cond:
                self.outcomes[slot] = outcome
                self._cond.notify_all()

    async def _respond(
        self, scope: dict[str, Any], body: Any, send: Any, gone: asyncio.Event
    ) -> bool:
        if scope["path"].endswith("/models"):
            data = [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}]
            await self._send_json(send, 200, {"object": "list", "data": data})
            return True
        if not scope["path"].endswith("/chat/completions"):
            # A Chat Completions-only API, as a real one: other routes (``/responses``) are 404.
            error = {
                "message": f"Invalid URL (POST {scope['path']})",
                "type": "invalid_request_error",
            }
            await self._send_json(send, 404, {"error": {**error, "param": None, "code": None}})
            return True
        reply = self.queue.popleft() if self.queue else self.default
        req = body if isinstance(body, dict) else {}
        stream = bool(req.get("stream"))
        if reply.kind == "error":
            await self._send_json(send, reply.status, {"error": reply.error})
            return True
        if reply.kind == "hang":
            assert self._released is not None
            released = asyncio.create_task(self._released.wait())
            client_gone = asyncio.create_task(gone.wait())
            await asyncio.wait({released, client_gone}, return_when=asyncio.FIRST_COMPLETED)
            released.cancel()
            client_gone.cancel()
            return False
        if reply.kind in ("trickle", "keepalive", "steady"):
            await self._drip(req, reply, stream, send, gone)
            return False
        if not stream:
            payload = json.dumps(self._completion(req, reply)).encode()
            if reply.kind == "cut":
                await self._start(send, 200, "application/json", len(payload))
                await send(
                    {
                        "type": "http.response.body",
                        "body": payload[: len(payload) // 2],
                        "more_body": True,
                    }
                )
                raise ConnectionAbortedError("scripted cut")  # uvicorn drops the connection
            if reply.kind == "malformed":
                payload = b'{"id": "chatcmpl-broken", "choices": [ {not json'
            await self._send_raw(send, 200, "application/json", payload)
            return True
        await self._start(send, 200, "text/event-stream; charset=utf-8")
        frames = self._frames(req, reply)
        if reply.kind == "malformed" and reply.after < len(frames):
            frames[reply.after] = b"data: {not json\n\n"
        for i, frame in enumerate(frames):
            if gone.is_set():
                return False
            if reply.kind == "cut" and i == reply.after:
                raise ConnectionAbortedError("scripted cut")
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            if i == reply.hold_after:
                await gone.wait()
                return False
            if i == reply.pause_after and not await self._paused(gone):
                return False
            if reply.delay and i < len(frames) - 1:
                await asyncio.sleep(reply.delay)  # the scripted per-chunk pacing
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True

    async def _paused(self, gone: asyncio.Event) -> bool:
        """Wait for ``resume()``; False if the client left first."""
        assert self._resumed is not None
        resumed = asyncio.create_task(self._resumed.wait())
        client_gone = asyncio.create_task(gone.wait())
        await asyncio.wait({resumed, client_gone}, return_when=asyncio.FIRST_COMPLETED)
        resumed.cancel()
        client_gone.cancel()
        return not gone.is_set()

    async def _drip(
        self, req: dict[str, Any], reply: Reply, stream: bool, send: Any, gone: asyncio.Event
    ) -> None:
        await self._start(send, 200, "text/event-stream" if stream else "application/json")
        content = self._frames(req, Reply.text_of("x", chunks=1))[1]
        pieces = {"keepalive": b": keep-alive\n\n", "steady": content}
        first = b'data: {"choices": [' if stream else b'{"choices": ['
        sent = 0
        while not gone.is_set():
            piece = pieces.get(reply.kind) if stream else None
            if piece is None:
                piece = first if sent == 0 else b" "
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), reply.delay)

    # -- OpenAI wire shapes --------------------------------------------------------------
    @staticmethod
    def _usage(req: dict[str, Any], reply: Reply) -> dict[str, int]:
        prompt = sum(_words(m.get("content") or "") for m in req.get("messages") or [])
        out = _words(reply.text) + sum(1 + _words(args) for _, args in reply.calls)
        return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}

    def _completion(self, req: dict[str, Any], reply: Reply) -> dict[str, Any]:
        calls = [
            {
                "id": f"call_fake_{i}",
                "type": "function",
                "function": {"name": n, "arguments": json.dumps(a)},
            }
            for i, (n, a) in enumerate(reply.calls)
        ]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text or None,
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = calls
        finish = "tool_calls" if calls else "stop"
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model", "fake-model"),
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": self._usage(req, reply),
        }

    def _frames(self, req: dict[str, Any], reply: Reply) -> list[bytes]:
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        head = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": req.get("model", "fake-model"),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            obj = {
                **head,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                obj["usage"] = None
            return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

        frames = [chunk({"role": "assistant", "content": "" if not reply.calls else None})]
        if reply.text:
            frames += [chunk({"content": piece}) for piece in _split(reply.text, reply.chunks)]
        for index, (name, args) in enumerate(reply.calls):
            first = {
                "index": index,
                "id": f"call_fake_{index}",
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            frames.append(chunk({"tool_calls": [first]}))
            for piece in _split(json.dumps(args), reply.fragments):
                frames.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )
        frames.append(chunk({}, "tool_calls" if reply.calls else "stop"))
        if include_usage:
            usage = {**head, "choices": [], "usage": self._usage(req, reply)}
            frames.append(b"data: " + json.dumps(usage, separators=(",", ":")).encode() + b"\n\n")
        frames.append(b"data: [DONE]\n\n")
        return frames

    @staticmethod
    async def _start(send: Any, status: int, content_type: str, length: int | None = None) -> None:
        headers = [(b"content-type", content_type.encode())]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})

    async def _send_raw(self, send: Any, status: int, content_type: str, payload: bytes) -> None:
        await self._start(send, status, content_type, len(payload))
        await send({"type": "http.response.body", "body": payload})

    async def _send_json(self, send: Any, status: int, obj: Any) -> None:
        await self._send_raw(send, status, "application/json", json.dumps(obj).encode())
