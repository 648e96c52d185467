"""Wire formats of the Responses API: the ``response`` object and its typed SSE events.

A streamed response is framed from the chat run's items (chunks with ``delta``s, usage, the
end) into OpenAI's event sequence: ``response.created``, ``response.in_progress``, per output
item ``output_item.added`` (+ ``content_part.added`` / text or argument deltas / their
``done`` events) ``output_item.done``, then exactly one of ``response.completed``,
``response.incomplete`` or ``response.failed``. Every frame is
``event: <type>\\ndata: {"type":..,"sequence_number":n,..}\\n\\n``.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from app.errors import GatewayError
from app.services import responses_convert as rc

_encode = msgspec.json.Encoder().encode

# Request fields echoed on the response object, with OpenAI's defaults.
_ECHOED: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "store": True,
    "temperature": 1.0,
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
    "metadata": {},
}
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt_tokens + completion_tokens,
    }


def status_of(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    """A chat finish reason → the response's ``status`` and ``incomplete_details``."""
    reason = _INCOMPLETE.get(finish_reason or "")
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def response_object(
    response_id: str,
    body: dict[str, Any],
    *,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    incomplete_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``response`` object, echoing the request's settings as OpenAI does."""
    obj: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": incomplete_details,
        "model": body.get("model", ""),
        "output": output,
    }
    for name, default in _ECHOED.items():
        value = body.get(name)
        obj[name] = default if value is None else value
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    obj["text"] = {"format": fmt if isinstance(fmt, dict) else {"type": "text"}}
    obj["reasoning"] = {"effort": None, "summary": None}
    obj["usage"] = usage
    return obj


def error_of(exc: GatewayError) -> dict[str, Any]:
    return {"code": exc.code or exc.error_type, "message": exc.message}


class EventFramer:
    """Turns one streamed chat run into Responses SSE frames, keeping the output as it grows."""

    def __init__(self, response_id: str, body: dict[str, Any]) -> None:
        self.response_id = response_id
        self.body = body
        self.created_at = int(time.time())
        self.output: list[dict[str, Any]] = []
        self.seq = 0
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.ended = False
        self._open: int | None = None  # output index of the item receiving deltas
        # Messages and function calls are numbered (in their ids) apart from the gateway's
        # mcp_call items, so their ids are the ones the log rebuilds without those (retrieve,
        # item_reference) whether or not the tools were shown.
        self._answer_items = 0
        self._calls: dict[int, int] = {}  # chat tool-call index → output index
        self._notices: dict[str, int] = {}  # gateway tool-call id → output index
        self._text: list[str] = []
        self._hot = (b"", b"", b"")  # the open item's delta frame around seq and text

    def frame(self, kind: str, **fields: Any) -> bytes:
        data = _encode({"type": kind, "sequence_number": self.seq, **fields})
        self.seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(
            self.response_id,
            self.body,
            created_at=self.created_at,
            status=status,
            output=self.output,
            **extra,
        )

    def start(self) -> list[bytes]:
        snapshot = self._response("in_progress")
        return [
            self.frame("response.created", response=snapshot),
            self.frame("response.in_progress", response=snapshot),
        ]

    def delta(self, delta: dict[str, Any], finish_reason: str | None) -> list[bytes]:
        frames: list[bytes] = []
        content = delta.get("content")
        if content:
            frames += self._text_delta(content)
        for call in delta.get("tool_calls") or ():
            frames += self._call_delta(call)
        notice = delta.get("ledgergate_tool_call")
        if notice is not None:
            frames += self._notice(notice)
        if finish_reason is not None:
            self.finish_reason = finish_reason
            frames += self._close()
        return frames

    def _text_delta(self, text: str) -> list[bytes]:
        frames: list[bytes] = []
        item = self.output[self._open] if self._open is not None else None
        if item is None or item["type"] != "message":
            frames += self._close()
            index = len(self.output)
            item = rc.message_item(self.response_id, self._answer_items, None, "in_progress")
            self._answer_items += 1
            self.output.append(item)
            self._open_item(index, "message")
            frames.append(self.frame("response.output_item.added", output_index=index, item=item))
            frames.append(
                self.frame(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part=rc.text_part(""),
                )
            )
        self._text.append(text)
        frames.append(self._delta_frame(text))
        return frames

    def _delta_frame(self, text: str) -> bytes:
        """``response.output_text.delta`` or ``function_call_arguments.delta`` of the open item,
        from bytes built once per item: the hot path (one per upstream chunk)."""
        head, middle, end = self._hot
        seq = self.seq
        self.seq += 1
        return b"".join((head, str(seq).encode(), middle, _encode(text), end))

    def _open_item(self, index: int, kind: str) -> None:
        self._open = index
        item_id = self.output[index]["id"]
        where = f',"item_id":"{item_id}","output_index":{index}'
        if kind == "message":  # text deltas carry (empty) logprobs, argument deltas do not
            where += ',"content_index":0'
            event, end = "response.output_text.delta", b',"logprobs":[]}\n\n'
        else:
            event, end = "response.function_call_arguments.delta", b"}\n\n"
        head = f'event: {event}\ndata: {{"type":"{event}","sequence_number":'.encode()
        self._hot = (head, (where + ',"delta":').encode(), end)

    def _call_delta(self, call: dict[str, Any]) -> list[bytes]:
        frames: list[bytes] = []
        fn = call.get("function") or {}
        arguments = fn.get("arguments") or ""
        index = self._calls.get(call.get("index", 0))
        if index is None:
            frames += self._close()
            index = self._calls[call.get("index", 0)] = len(self.output)
            number = self._answer_items
            self._answer_items += 1
            item = rc.call_item(
                self.response_id, number, call.get("id") or "", fn.get("name") or ""
            )
            self.output.append(item)
            self._open_item(index, "function_call")
            frames.append(self.frame("response.output_item.added", output_index=index, item=item))
        item = self.output[index]
        if arguments:
            item["arguments"] += arguments
            if self._open != index:  # a parallel call's late fragment
                self._open_item(index, "function_call")
            frames.append(self._delta_frame(arguments))
        return frames

    def _notice(self, notice: dict[str, Any]) -> list[bytes]:
        """A tool the gateway ran (shown on request): an ``mcp_call`` item, the Responses item
        for a tool the server runs, which clients display but never run themselves."""
        frames: list[bytes] = []
        index = self._notices.get(notice["id"])
        if index is None:
            frames += self._close()
            index = self._notices[notice["id"]] = len(self.output)
            item = {
                "id": rc.item_id("mcp", self.response_id, index),
                "type": "mcp_call",
                "status": "calling",
                "server_label": "ledgergate",
                "name": notice["name"],
                "arguments": notice["arguments"],
                "output": None,
                "error": None,
            }
            self.output.append(item)
            frames.append(self.frame("response.output_item.added", output_index=index, item=item))
            where = {"item_id": item["id"], "output_index": index}
            frames.append(self.frame("response.mcp_call.in_progress", **where))
        if notice["status"] in ("completed", "failed"):
            item = self.output[index]
            where = {"item_id": item["id"], "output_index": index}
            if notice["status"] == "completed":
                item["status"], item["output"] = "completed", notice.get("output")
            else:
                error = {"type": "mcp_tool_execution_error", "content": notice.get("output")}
                item["status"], item["error"] = "failed", error
            frames.append(self.frame(f"response.mcp_call.{notice['status']}", **where))
            frames.append(self.frame("response.output_item.done", output_index=index, item=item))
        return frames

    def _close(self) -> list[bytes]:
        """The ``done`` events of the item receiving deltas, if any."""
        index, self._open = self._open, None
        if index is None:
            return []
        item = self.output[index]
        item["status"] = "completed"
        frames: list[bytes] = []
        if item["type"] == "message":
            text = "".join(self._text)
            self._text = []
            part = rc.text_part(text)
            item["content"] = [part]
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            frames.append(self.frame("response.output_text.done", **where, text=text, logprobs=[]))
            frames.append(self.frame("response.content_part.done", **where, part=part))
        else:
            frames.append(
                self.frame(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
        frames.append(self.frame("response.output_item.done", output_index=index, item=item))
        return frames

    def end(self) -> list[bytes]:
        """The one terminal event of a finished answer."""
        frames = self._close()
        status, details = status_of(self.finish_reason)
        response = self._response(status, usage=self.usage, incomplete_details=details)
        self.ended = True
        frames.append(self.frame(f"response.{status}", response=response))
        return frames

    def fail(self, exc: GatewayError) -> list[bytes]:
        frames = self._close()
        self.ended = True
        response = self._response("failed", usage=self.usage, error=error_of(exc))
        frames.append(self.frame("response.failed", response=response))
        return frames


def shown_output(
    response_id: str, body: dict[str, Any], chunks: list[dict[str, Any]], finish_reason: str
) -> list[dict[str, Any]]:
    """The ``output`` of a non-streamed answer shown with its gateway-run tools: the items the
    same answer streamed would end with (``mcp_call`` items where the tools ran)."""
    framer = EventFramer(response_id, body)
    for delta in chunks:
        framer.delta(delta, None)
    framer.delta({}, finish_reason)
    return framer.output


def encode(value: Any) -> bytes:
    return _encode(value)
