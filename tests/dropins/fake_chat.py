"""A scripted Chat Completions server as an httpx2 transport, for unit tests of the SDK adapter.

Each upstream call pops the next reply: text, or tool calls. Streams SSE when asked to, and
records every request body so tests can assert what reached the upstream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
from openai import AsyncOpenAI

from app.adapters.upstream import Deadlines, HttpUpstream


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, args)
    status: int = 200


@dataclass
class FakeChat:
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def client(self) -> AsyncOpenAI:
        transport = httpx.MockTransport(self._handle)
        http = httpx.AsyncClient(transport=transport)
        return AsyncOpenAI(
            api_key="test", base_url="http://fake.test/v1", http_client=http, max_retries=0
        )

    def upstream(self) -> HttpUpstream:
        """The gateway's upstream port on this fake (what drop-ins run on)."""
        return HttpUpstream(
            base_url="http://fake.test/v1",
            api_key="test",
            label="http://fake.test",
            models=("*",),
            deadlines=Deadlines(),
            transport=httpx.MockTransport(self._handle),
        )

    def _handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        reply = self.replies.pop(0) if self.replies else Reply(text="(no script)")
        if reply.status != 200:
            err = {"error": {"message": reply.text, "type": "invalid_request_error"}}
            return httpx.Response(reply.status, json=err)
        if body.get("stream"):
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=_sse(body["model"], reply),
            )
        return httpx.Response(200, json=_completion(body["model"], reply))


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def _completion(model: str, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in reply.tool_calls
        ]
    finish = "tool_calls" if reply.tool_calls else "stop"
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage(),
    }


def _sse(model: str, reply: Reply) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
        obj: dict[str, Any] = {
            "id": "cmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [],
        }
        if delta or finish:
            obj["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
        if usage is not None:
            obj["usage"] = usage
        return b"data: " + json.dumps(obj).encode() + b"\n\n"

    out = [chunk({"role": "assistant", "content": ""})]
    if reply.text:
        half = len(reply.text) // 2 or 1
        for part in (reply.text[:half], reply.text[half:]):
            if part:
                out.append(chunk({"content": part}))
    for n, (cid, name, args) in enumerate(reply.tool_calls):
        function = {"name": name, "arguments": ""}
        first = {"index": n, "id": cid, "type": "function", "function": function}
        out.append(chunk({"tool_calls": [first]}))
        half = len(args) // 2
        for part in (args[:half], args[half:]):
            if part:
                out.append(chunk({"tool_calls": [{"index": n, "function": {"arguments": part}}]}))
    out.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    out.append(chunk({}, None, _usage()))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)
