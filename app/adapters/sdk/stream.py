"""SDK stream events → gateway deltas, with one tool-call ``index`` counter across a whole run.

On chat models a function call's argument fragments all carry ``item_id="__fake_id__"``, so
fragments are matched to their call by ``output_index``, which restarts at every model call
(``response.created``). Several model calls feed one client stream, so the client-facing index
keeps counting across them.
"""

from __future__ import annotations

from typing import Any

from app.services.backends import Delta, TextDelta, ToolCallDelta


class DeltaTranslator:
    def __init__(self) -> None:
        self.next_index = 0
        self._by_output_index: dict[int, int] = {}
        self.text_seen = False

    def feed(self, event: Any, *, text: bool = True) -> list[Delta]:
        """The deltas for one ``stream_events()`` item; ``text=False`` keeps its text back."""
        if getattr(event, "type", None) != "raw_response_event":
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
            index = self.next_index
            self.next_index += 1
            self._by_output_index[data.output_index] = index
            item = data.item
            return [ToolCallDelta(index, item.call_id, item.name, item.arguments or "")]
        elif kind == "response.function_call_arguments.delta":
            known = self._by_output_index.get(data.output_index)
            if known is not None and data.delta:
                return [ToolCallDelta(known, arguments=data.delta)]
        return []
