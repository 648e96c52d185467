"""Upstream model calls: one hop through ``AsyncOpenAI``, and the passthrough backend built on it.

A hop sends the client's body (unknown OpenAI fields included) and yields the answer as
``Delta`` items as they arrive, recording ``upstream.call_started`` and
``upstream.call_completed | upstream.call_failed``. Foreign errors are translated here, once.
Non-streamed client requests call the upstream non-streamed (cheaper, and the upstream's own
answer shape); its message is turned into the same deltas.

Hot path: the body goes out as JSON bytes on the ``AsyncOpenAI`` client's own httpx2 client
(URL, auth and SDK headers as the SDK builds them: ``upstream.wire``), and the answer is parsed
with msgspec (``upstream.sse``) instead of ``chat.completions.create``: the SDK's request
transform and its pydantic model per chunk were 11 % and 41 % of the event loop's CPU. Failures
are raised as the SDK raises them, so ``translate`` maps them as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx2
import openai

from app.adapters.upstream import Upstream, translate, wire
from app.adapters.upstream.sse import SSEFrames, decode_chunk, decode_completion
from app.context import RequestContext
from app.errors import GatewayError, UpstreamError
from app.services.backends import ChatRequest, Delta, Finish, TextDelta, ToolCallDelta, Usage
from domain.events import UpstreamCallCompleted, UpstreamCallFailed, UpstreamCallStarted

# Fields the gateway sets itself on every upstream call.
_OWN_FIELDS = frozenset({"model", "messages", "stream", "stream_options"})


def extra_fields(raw: dict[str, Any], *, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The client's other fields, passed upstream untouched (unknown ones included)."""
    return {k: v for k, v in raw.items() if k not in _OWN_FIELDS and k not in drop}


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
    recorder = ctx.recorder
    await recorder.record(
        UpstreamCallStarted(
            request_id=ctx.request_id, hop=hop, model=model, stream=stream, upstream=upstream.label
        )
    )
    acc = _Hop(upstream, model, messages, extra, client_tools)
    started = acc.started
    try:
        async for item in _streamed(acc) if stream else _whole(acc):
            yield item
    except asyncio.CancelledError:
        await _record_failed(
            ctx, hop, started, error_type="cancelled", message="The client went away."
        )
        raise
    except Exception as exc:
        error = translate(exc)
        if acc.received and error.code == "upstream_unavailable":
            error = UpstreamError(
                "The upstream closed the stream before it finished.",
                code="upstream_stream_broken",
            )
        await _record_failed(
            ctx,
            hop,
            started,
            error_type=error.code or error.error_type,
            message=error.message,
            status=_status(exc, error),
        )
        if isinstance(exc, GatewayError):
            raise
        raise error from exc
    await recorder.record(
        UpstreamCallCompleted(
            request_id=ctx.request_id,
            hop=hop,
            duration_us=(time.perf_counter_ns() - started) // 1000,
            finish_reason=acc.finish,
            prompt_tokens=acc.prompt_tokens,
            completion_tokens=acc.completion_tokens,
            ttft_us=acc.ttft_us,
        )
    )


class _Hop:
    """One upstream call: what is sent, and what came back so far."""

    def __init__(
        self,
        upstream: Upstream,
        model: str,
        messages: list[dict[str, Any]],
        extra: dict[str, Any],
        client_tools: frozenset[str] | None,
    ) -> None:
        self.upstream = upstream
        self.model = model
        # The client's messages as sent; openai's TypedDicts would only restate them.
        self.wire_messages: Any = messages
        self.extra = extra
        self.client_tools = client_tools
        self.started = time.perf_counter_ns()
        self.received = False
        self.finish = ""
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.ttft_us = 0


def _status(exc: BaseException, error: GatewayError) -> int:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else error.status


async def _record_failed(
    ctx: RequestContext, hop: int, started: int, *, error_type: str, message: str, status: int = 0
) -> None:
    await ctx.recorder.record(
        UpstreamCallFailed(
            request_id=ctx.request_id,
            hop=hop,
            duration_us=(time.perf_counter_ns() - started) // 1000,
            error_type=error_type,
            message=message,
            status=status,
        )
    )


def _is_client(name: str | None, client_tools: frozenset[str] | None) -> bool:
    return client_tools is None or (name or "") in client_tools


def _body(acc: _Hop, stream: bool) -> dict[str, Any]:
    # Key order as the SDK sent it; the client's other fields (unknown ones too) follow.
    body = {"messages": acc.wire_messages, "model": acc.model, "stream": stream, **acc.extra}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


async def _events(response: httpx2.Response) -> AsyncGenerator[bytes, None]:
    """The stream's SSE ``data`` payloads up to ``[DONE]``; httpx2 failures as the SDK's."""
    frames = SSEFrames()
    chunks = response.aiter_bytes()
    try:
        async for raw in chunks:
            for data in frames.feed(raw):
                if data.startswith(b"[DONE]"):
                    if response.http_version == "HTTP/1.1":
                        async for _rest in chunks:  # read to the end: the connection is reused
                            pass
                    return
                yield data
        for data in frames.close():
            yield data
    except Exception as exc:
        error = wire.sdk_error(exc, response.request)
        if error is None:
            raise
        raise error from exc


async def _streamed(acc: _Hop) -> AsyncIterator[Delta]:
    response = await wire.send(acc.upstream.client, _body(acc, True))
    names: dict[int, str | None] = {}
    events = _events(response)
    try:
        async for data in events:
            chunk = decode_chunk(data)
            if chunk.error:
                raise _stream_error(chunk.error, response)
            if not acc.received:
                acc.received = True
                acc.ttft_us = (time.perf_counter_ns() - acc.started) // 1000
            for choice in chunk.choices or ():
                if choice.index != 0:
                    continue
                delta = choice.delta
                if delta is not None:
                    if delta.content:
                        yield TextDelta(delta.content)
                    for call in delta.tool_calls or ():
                        fn = call.function
                        name = fn.name if fn is not None else None
                        if call.index not in names:
                            names[call.index] = name
                        yield ToolCallDelta(
                            index=call.index,
                            id=call.id,
                            name=name,
                            arguments=(fn.arguments if fn is not None else None) or "",
                            client=_is_client(names[call.index], acc.client_tools),
                        )
                if choice.finish_reason:
                    acc.finish = choice.finish_reason
            usage = chunk.usage
            if usage is not None:
                acc.prompt_tokens = usage.prompt_tokens or 0
                acc.completion_tokens = usage.completion_tokens or 0
    finally:
        await events.aclose()
        # Closing the response closes the upstream connection (a cancelled request included).
        await response.aclose()
    if not acc.finish:
        raise UpstreamError(
            "The upstream closed the stream before it finished.", code="upstream_stream_broken"
        )
    yield Finish(acc.finish)
    yield Usage(acc.prompt_tokens, acc.completion_tokens)


def _stream_error(error: Any, response: httpx2.Response) -> openai.APIError:
    """An error event in the stream, raised as the SDK raises it."""
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message=message, request=response.request, body=error)


async def _whole(acc: _Hop) -> AsyncIterator[Delta]:
    response = await wire.send(acc.upstream.client, _body(acc, False))
    try:
        raw = await response.aread()
    except Exception as exc:
        error = wire.sdk_error(exc, response.request)
        if error is None:
            raise
        raise error from exc
    finally:
        await response.aclose()
    completion = decode_completion(raw)
    acc.received = True
    if not completion.choices:
        raise UpstreamError("The upstream answered without a choice.", code="upstream_bad_response")
    choice = completion.choices[0]
    message = choice.message
    if message is not None:
        if message.content:
            yield TextDelta(message.content)
        for index, call in enumerate(message.tool_calls or ()):
            fn = call.function
            name = fn.name if fn is not None else None
            yield ToolCallDelta(
                index=index,
                id=call.id,
                name=name,
                arguments=(fn.arguments if fn is not None else None) or "",
                client=_is_client(name, acc.client_tools),
            )
    acc.finish = choice.finish_reason or "stop"
    usage = completion.usage
    if usage is not None:
        acc.prompt_tokens = usage.prompt_tokens or 0
        acc.completion_tokens = usage.completion_tokens or 0
    yield Finish(acc.finish)
    yield Usage(acc.prompt_tokens, acc.completion_tokens)


class UpstreamBackend:
    """Passthrough: the client's request, as sent, to the configured upstream model."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def run(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[Delta]:
        async for item in upstream_hop(
            self.upstream,
            ctx,
            hop=1,
            model=request.model,
            messages=request.messages,
            extra=extra_fields(request.raw),
            stream=request.stream,
        ):
            yield item
