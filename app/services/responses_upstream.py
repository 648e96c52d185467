"""Upstream models over the upstream's own Responses API, when it has one.

``LEDGERGATE_UPSTREAM_API`` chooses: ``chat_completions`` always translates a Responses request
onto Chat Completions (``responses_convert``); ``responses`` sends it to ``POST {base}/responses``
as the client's body, its conversation expanded (``previous_response_id`` and ``item_reference``
resolved from our log, so the upstream stores nothing: ``store: false``); ``auto`` (the default)
tries the Responses API once and, if the upstream answers 404/405/501 there, falls back to the
translation for good. The upstream's typed events become the same deltas as a chat stream's, so
the run, its events and the client's framing are the same whichever API carried the call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import msgspec

from app.errors import GatewayError
from app.ports.chat_backend import Delta, Finish, TextDelta, ToolCallDelta, Usage
from app.ports.request_context import RequestContext
from app.ports.upstream import Upstream, UpstreamCall
from app.services.upstream_calls import CallTally, recorded_call

MODES = ("auto", "responses", "chat_completions")
_NOT_THERE = frozenset({404, 405, 501})
# Fields of the client's body the gateway sets itself for the upstream.
_OWN = frozenset({"input", "previous_response_id", "stream", "store", "stream_options"})


class _Event(msgspec.Struct):
    """The members of a Responses stream event that deltas are made of."""

    type: str = ""
    output_index: int = 0
    delta: str = ""
    arguments: str | None = None
    item: dict[str, Any] | None = None


class _Whole(msgspec.Struct):
    output: list[dict[str, Any]] = []


_decode_event = msgspec.json.Decoder(_Event).decode
_decode_whole = msgspec.json.Decoder(_Whole).decode


def upstream_body(
    client: dict[str, Any], items: list[dict[str, Any]], stream: bool
) -> dict[str, Any]:
    """The body sent upstream: the client's fields, the whole conversation as input items."""
    body = {k: v for k, v in client.items() if k not in _OWN}
    body["input"] = [
        {k: v for k, v in item.items() if k not in ("id", "status")}
        for item in items
        if item["type"] != "reasoning"
    ]
    body["stream"] = stream
    body["store"] = False
    return body


def falls_back(exc: GatewayError) -> bool:
    """Whether a failed Responses call means the upstream has no Responses API."""
    status = getattr(exc, "upstream_status", 0) or exc.status
    return status in _NOT_THERE


async def responses_hop(
    upstream: Upstream, ctx: RequestContext, body: dict[str, Any], *, hop: int
) -> AsyncIterator[Delta]:
    """One Responses API call as deltas: text, the client's function calls, finish, usage."""
    call = UpstreamCall(api="responses", body=body)
    tally = CallTally()
    calls: dict[int, list[str]] = {}  # output index -> [client index, arguments so far]
    async with aclosing(recorded_call(upstream, ctx.recorder, call, hop=hop, tally=tally)) as it:
        async for data, _payload in it:
            if not call.stream:
                for delta in _whole_deltas(data):
                    yield delta
                continue
            event = _decode_event(data)
            kind = event.type
            if kind == "response.output_text.delta":
                if event.delta:
                    yield TextDelta(event.delta)
            elif kind == "response.output_item.added" and _is_call(event.item):
                item = event.item or {}
                arguments = str(item.get("arguments") or "")
                calls[event.output_index] = [str(len(calls)), arguments]
                yield ToolCallDelta(
                    index=len(calls) - 1,
                    id=str(item.get("call_id") or ""),
                    name=str(item.get("name") or ""),
                    arguments=arguments,
                    client=True,
                )
            elif kind == "response.function_call_arguments.delta" and event.output_index in calls:
                state = calls[event.output_index]
                state[1] += event.delta
                yield ToolCallDelta(index=int(state[0]), arguments=event.delta, client=True)
            elif kind == "response.function_call_arguments.done" and event.output_index in calls:
                state = calls[event.output_index]
                if not state[1] and event.arguments:  # sent whole, only at the end
                    state[1] = event.arguments
                    yield ToolCallDelta(index=int(state[0]), arguments=event.arguments, client=True)
    yield Finish(tally.finish)
    yield Usage(tally.prompt_tokens, tally.completion_tokens)


def _is_call(item: dict[str, Any] | None) -> bool:
    return item is not None and item.get("type") == "function_call"


def _whole_deltas(data: bytes) -> list[Delta]:
    out: list[Delta] = []
    n = 0
    for item in _decode_whole(data).output:
        if item.get("type") == "message":
            text = "".join(
                str(part.get("text", ""))
                for part in item.get("content") or ()
                if isinstance(part, dict) and part.get("type") == "output_text"
            )
            if text:
                out.append(TextDelta(text))
        elif _is_call(item):
            out.append(
                ToolCallDelta(
                    index=n,
                    id=str(item.get("call_id") or ""),
                    name=str(item.get("name") or ""),
                    arguments=str(item.get("arguments") or ""),
                    client=True,
                )
            )
            n += 1
    return out
