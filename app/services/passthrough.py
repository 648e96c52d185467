"""Upstream hops as typed deltas, and the passthrough backend built on them.

A hop sends the client's body (unknown OpenAI fields included) through the upstream port and
yields the answer as ``Delta`` items as they arrive; ``upstream_calls.recorded_call`` records
it. Non-streamed client requests call the upstream non-streamed (cheaper, and the upstream's
own answer shape); its message is turned into the same deltas.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from app.errors import GatewayError
from app.ports.chat_backend import ChatRequest, Delta, Finish, TextDelta, ToolCallDelta, Usage
from app.ports.request_context import RequestContext
from app.ports.upstream import Upstream, UpstreamCall
from app.services.responses_upstream import falls_back, responses_hop
from app.services.upstream_calls import CallTally, recorded_call
from app.services.upstream_payloads import ChatCompletion, ChatCompletionChunk

# Fields the gateway sets itself on every upstream call.
_OWN_FIELDS = frozenset({"model", "messages", "stream", "stream_options"})


def extra_fields(raw: dict[str, Any], *, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The client's other fields, passed upstream untouched (unknown ones included)."""
    return {k: v for k, v in raw.items() if k not in _OWN_FIELDS and k not in drop}


def _is_client(name: str | None, client_tools: frozenset[str] | None) -> bool:
    return client_tools is None or (name or "") in client_tools


def chat_body(
    model: str, messages: list[dict[str, Any]], extra: dict[str, Any], stream: bool
) -> dict[str, Any]:
    """The upstream body: the client's messages as sent, then its other fields untouched."""
    body = {"messages": messages, "model": model, "stream": stream, **extra}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


async def upstream_hop(
    upstream: Upstream,
    ctx: RequestContext,
    *,
    hop: int,
    model: str,
    messages: list[dict[str, Any]],
    extra: dict[str, Any],
    stream: bool,
    client_tools: frozenset[str] | None = None,
) -> AsyncIterator[Delta]:
    """One upstream call as deltas. Tool calls are marked ``client`` when their name is in
    ``client_tools`` (``None``: every call is the client's, as in passthrough). Indices are the
    upstream's own; callers renumber across hops.
    """
    call = UpstreamCall(api="chat", body=chat_body(model, messages, extra, stream))
    tally = CallTally()
    names: dict[int, str | None] = {}
    async with aclosing(recorded_call(upstream, ctx.recorder, call, hop=hop, tally=tally)) as it:
        async for _data, payload in it:
            if isinstance(payload, ChatCompletionChunk):
                for delta in _chunk_deltas(payload, names, client_tools):
                    yield delta
            elif isinstance(payload, ChatCompletion):
                for delta in _message_deltas(payload, client_tools):
                    yield delta
    yield Finish(tally.finish)
    yield Usage(tally.prompt_tokens, tally.completion_tokens)


def _chunk_deltas(
    chunk: ChatCompletionChunk,
    names: dict[int, str | None],
    client_tools: frozenset[str] | None,
) -> list[Delta]:
    out: list[Delta] = []
    for choice in chunk.choices or ():
        delta = choice.delta
        if choice.index != 0 or delta is None:
            continue
        if delta.content:
            out.append(TextDelta(delta.content))
        for part in delta.tool_calls or ():
            fn = part.function
            name = fn.name if fn is not None else None
            if part.index not in names:
                names[part.index] = name
            out.append(
                ToolCallDelta(
                    index=part.index,
                    id=part.id,
                    name=name,
                    arguments=(fn.arguments if fn is not None else None) or "",
                    client=_is_client(names[part.index], client_tools),
                )
            )
    return out


def _message_deltas(completion: ChatCompletion, client_tools: frozenset[str] | None) -> list[Delta]:
    out: list[Delta] = []
    choice = completion.choices[0] if completion.choices else None
    message = choice.message if choice is not None else None
    if message is None:
        return out
    if message.content:
        out.append(TextDelta(message.content))
    for index, part in enumerate(message.tool_calls or ()):
        fn = part.function
        name = fn.name if fn is not None else None
        out.append(
            ToolCallDelta(
                index=index,
                id=part.id,
                name=name,
                arguments=(fn.arguments if fn is not None else None) or "",
                client=_is_client(name, client_tools),
            )
        )
    return out


class UpstreamBackend:
    """Passthrough: the client's request, as sent, to the configured upstream model.

    A Responses request goes to the upstream's own Responses API unless ``api`` is
    ``chat_completions``; with ``auto`` the first call that finds no such API (404/405/501)
    switches every later one to the Chat Completions translation (``responses_upstream``).
    """

    def __init__(self, upstream: Upstream, api: str = "auto") -> None:
        self.upstream = upstream
        self.api = api
        self.native: bool | None = None if api == "auto" else api == "responses"

    async def run(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[Delta]:
        hop = 1
        if request.responses is not None and self.native is not False:
            sent = False
            try:
                async for item in responses_hop(self.upstream, ctx, request.responses, hop=1):
                    sent = True
                    yield item
                self.native = True
                return
            except GatewayError as exc:
                if self.native is not None or sent or not falls_back(exc):
                    raise
                self.native = False  # detected once: this upstream has no Responses API
                hop = 2
        async for item in upstream_hop(
            self.upstream,
            ctx,
            hop=hop,
            model=request.model,
            messages=request.messages,
            extra=extra_fields(request.raw),
            stream=request.stream,
        ):
            yield item
