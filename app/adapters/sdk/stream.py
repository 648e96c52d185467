"""SDK stream events → gateway deltas: text, the client's own tool calls, gateway tool notices.

Tools the run executes itself (the agent's function tools, gateway tools, handoffs) never
become ``tool_calls``: they are announced as ``ToolNotice`` items (``started`` when the model
asked for them, ``completed``/``failed`` with their output), which a client sees only when it
opts in. Calls to tools the client sent (``client_tools``) are the client's ``tool_calls``.

On chat models a function call's argument fragments all carry ``item_id="__fake_id__"``, so
fragments are matched to their call by ``output_index``, which restarts at every model call
(``response.created``). Several model calls feed one client stream, so the client-facing index
keeps counting across them.
"""

from __future__ import annotations

import json
from typing import Any

from app.ports.chat_backend import Delta, TextDelta, ToolCallDelta, ToolNotice
from app.ports.request_context import RequestContext
from app.services.held import client_call_id
from app.services.upstream_hosted import CALL_ITEMS

_CALLS = ("tool_called", "handoff_requested")
_OUTPUTS = ("tool_output", "handoff_occured")  # sic: the SDK's spelling


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _hosted_notice(raw: Any, name: str) -> ToolNotice:
    """A call the upstream ran (it arrives done): one notice, completed or failed."""
    asked = getattr(raw, "action", None)
    if asked is None:
        asked = {"queries": getattr(raw, "queries", None)}
    dump = getattr(asked, "model_dump", None)
    arguments = json.dumps(dump() if callable(dump) else asked, default=str)
    status = "failed" if getattr(raw, "status", "") == "failed" else "completed"
    return ToolNotice(_text(getattr(raw, "id", "")), name, arguments, status)


class DeltaTranslator:
    def __init__(
        self, client_tools: frozenset[str] = frozenset(), ctx: RequestContext | None = None
    ) -> None:
        self.client_tools = client_tools
        self.ctx = ctx
        self.next_index = 0
        self._by_output_index: dict[int, int] = {}
        self._calls: dict[str, tuple[str, str]] = {}  # call id -> (name, arguments)
        self.visible_ids: dict[str, str] = {}  # a client call's id -> the id the client sees
        self.text_seen = False

    def feed(self, event: Any, *, text: bool = True) -> list[Delta]:
        """The deltas for one ``stream_events()`` item; ``text=False`` keeps its text back."""
        kind = getattr(event, "type", None)
        if kind == "run_item_stream_event":
            return self._run_item(event)
        if kind != "raw_response_event":
            return []
        data = event.data
        kind = getattr(data, "type", "")
        if kind == "response.created":
            self._by_output_index = {}
        elif kind == "response.output_text.delta":
            if text and data.delta:
                self.text_seen = True
                return [TextDelta(data.delta)]
        elif kind == "response.output_item.added" and data.item.type == "function_call":
            item = data.item
            if item.name not in self.client_tools:
                return []
            index = self.next_index
            self.next_index += 1
            self._by_output_index[data.output_index] = index
            visible = item.call_id
            if self.ctx is not None:  # an id that finds this request's held messages
                visible = client_call_id(self.ctx.request_id, len(self.visible_ids))
            self.visible_ids[item.call_id] = visible
            return [ToolCallDelta(index, visible, item.name, item.arguments or "", True)]
        elif kind == "response.output_item.done" and (
            hosted := CALL_ITEMS.get(str(getattr(data.item, "type", "")))
        ):
            # Announced where it ran, ahead of the answer's text of the same model call.
            return [_hosted_notice(data.item, hosted)]
        elif kind == "response.function_call_arguments.delta":
            known = self._by_output_index.get(data.output_index)
            if known is not None and data.delta:
                return [ToolCallDelta(known, arguments=data.delta, client=True)]
        return []

    def _run_item(self, event: Any) -> list[Delta]:
        raw = getattr(event.item, "raw_item", None)
        if event.name in _CALLS:
            call_id = _text(getattr(raw, "call_id", "") or "")
            name = _text(getattr(raw, "name", "") or "")
            if not call_id or name in self.client_tools:
                return []
            arguments = _text(getattr(raw, "arguments", "") or "")
            self._calls[call_id] = (name, arguments)
            return [ToolNotice(call_id, name, arguments, "started")]
        if event.name in _OUTPUTS:
            found = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
            known = self._calls.pop(found, None) if isinstance(found, str) else None
            if known is None or not isinstance(found, str):
                return []
            call_id = found
            output = raw.get("output") if isinstance(raw, dict) else getattr(raw, "output", "")
            status = self.ctx.outcome(call_id) if self.ctx is not None else "completed"
            return [ToolNotice(call_id, known[0], known[1], status, _text(output))]
        return []
