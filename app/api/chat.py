"""``POST /v1/chat/completions``: read and check the body, hand it to ``ChatService``, shape bytes.

Streamed answers are held until their first delta (or error), so an early failure still gets a
real HTTP status; after that, errors travel as an SSE ``{"error": ...}`` event then ``[DONE]``.
SSE frames are written as exact bytes (``data: <json>\\n\\n``), not with Litestar's SSE helper
(whose default separator is ``\\r\\n\\r\\n``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType as MediaTypeSpec
from litestar.openapi.spec import Operation, RequestBody
from litestar.response import Response, Stream

from app.api import openapi, wire
from app.api.access import ACCESS_MODEL
from app.api.auth import principal_of
from app.api.exception_handlers import error_response
from app.api.request import validate
from app.errors import GatewayError, PayloadTooLarge, internal_error, log_unavailable
from app.ids import new_request_id
from app.services.chat import ChatService, first_or_disconnect
from app.services.chat_run import Answer, ChatRun, DeltaChunk, Done, ErrorChunk, UsageChunk
from domain.ports import LogUnavailable

AnyRequest = Request[Any, Any, Any]
SHOW_TOOLS_HEADER = "x-ledgergate-show-tools"


class ClientClosedRequest(GatewayError):
    """The client went away before the answer began (nginx's 499); nobody reads this."""

    status = 499
    error_type = "invalid_request_error"
    default_code = "client_closed_request"


DRAIN_MAX_BYTES = 32 * 1024 * 1024
"""How much of an oversized body is read and dropped so the client, still sending, gets the 413."""


async def read_body(request: AnyRequest, limit: int) -> bytes:
    """The whole body, or PayloadTooLarge once it is known to exceed ``limit`` bytes.

    The rest of an oversized body is drained (up to ``DRAIN_MAX_BYTES``) before the 413 goes
    out: closing on a client that is still sending resets the connection, and ``urllib`` or
    ``requests`` then report "connection reset by peer" instead of the answer.
    """
    too_large = PayloadTooLarge(f"The request body is larger than the {limit}-byte limit.")
    length = request.headers.get("content-length")
    declared = int(length) if length is not None and length.isdigit() else None
    parts: list[bytes] = []
    size = 0
    over = declared is not None and declared > limit
    if over and declared is not None and declared > max(limit, DRAIN_MAX_BYTES):
        raise too_large  # too much to drain: answer now, the connection closes
    async for part in request.stream():
        size += len(part)
        if size > limit:
            over = True
        if over:
            if size > max(limit, DRAIN_MAX_BYTES):
                break
            continue
        parts.append(part)
    if over:
        raise too_large
    return b"".join(parts)


def client_of(request: AnyRequest) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else ""


@dataclass
class _ChatOperation(Operation):
    """The OpenAPI entry: the body is read by hand (to keep unknown fields), so describe it here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={"application/json": MediaTypeSpec(schema=openapi.CHAT_REQUEST)},
            required=True,
            description="OpenAI Chat Completions request; other OpenAI fields are passed on.",
        )


@post(
    "/v1/chat/completions",
    status_code=200,
    request_max_body_size=None,  # enforced by read_body with settings.max_body_bytes
    operation_class=_ChatOperation,
    responses={
        200: ResponseSpec(
            data_container=wire.ChatCompletion,
            description="The answer; with stream=true, text/event-stream of"
            " chat.completion.chunk events",
            # Litestar's default (True) fills the schema with random faker values, and keeps
            # polyfactory and faker (~10 MB) in every gateway's memory.
            generate_examples=False,
        )
    },
    summary="Create a chat completion (OpenAI-compatible)",
    tags=["OpenAI"],
)
async def chat_completions(
    request: AnyRequest,
    chat: NamedDependency[ChatService | None],
) -> Response[Any]:
    request_id = new_request_id()
    headers = {"x-request-id": request_id}
    try:
        if chat is None:
            raise internal_error()
        principal = principal_of(request)
        settings = chat.settings
        raw = wire.decode_body(await read_body(request, settings.max_body_bytes))
        if isinstance(model := raw.get("model"), str):
            state = request.scope.get("state")
            if isinstance(state, dict):
                state[ACCESS_MODEL] = model  # for the access line
        client = client_of(request)
        try:
            chat_request = validate(raw, settings.max_messages)
        except GatewayError as exc:
            await chat.reject(principal, raw, exc, client=client, request_id=request_id)
            raise
        if request.headers.get(SHOW_TOOLS_HEADER, "").strip().lower() == "true":
            chat_request = msgspec.structs.replace(chat_request, show_tools=True)
        run = await chat.start(principal, chat_request, client=client, request_id=request_id)
        first = await first_or_disconnect(run, request.receive)  # type: ignore[arg-type]
        if first is None:
            raise ClientClosedRequest("The client closed the request.")
    except GatewayError as exc:
        return error_response(exc, headers)
    except LogUnavailable as exc:
        return error_response(log_unavailable(exc), headers)
    if isinstance(first, Answer):
        return Response(
            content=_completion(run, first), media_type="application/json", headers=headers
        )
    headers["cache-control"] = "no-cache"
    return Stream(_sse(run, first), media_type="text/event-stream", headers=headers)


def _completion(run: ChatRun, answer: Answer) -> bytes:
    message = answer.message
    calls = message.get("tool_calls")
    body = wire.ChatCompletion(
        id=run.request_id,
        created=run.created,
        model=run.model,
        choices=[
            wire.Choice(
                index=0,
                message=wire.AssistantMessage(
                    role="assistant",
                    content=message.get("content"),
                    refusal=None,
                    tool_calls=[
                        wire.ToolCall(
                            c["id"],
                            wire.FunctionCall(c["function"]["name"], c["function"]["arguments"]),
                        )
                        for c in calls
                    ]
                    if calls
                    else None,
                ),
                finish_reason=answer.finish_reason,
            )
        ],
        usage=wire.CompletionUsage(
            answer.prompt_tokens,
            answer.completion_tokens,
            answer.prompt_tokens + answer.completion_tokens,
        ),
    )
    return wire.encode(body)


async def _sse(run: ChatRun, first: Any) -> AsyncIterator[bytes]:
    """SSE bytes: each write carries every item already queued (never waits for more)."""
    framer = wire.ChunkFramer(run.request_id, run.created, run.model, run.request.include_usage)
    item = first
    try:
        while True:
            frames = [_frame(framer, item)]
            while not isinstance(item, Done) and (ready := run.next_ready()) is not None:
                item = ready
                frames.append(_frame(framer, item))
            yield frames[0] if len(frames) == 1 else b"".join(frames)
            if isinstance(item, Done):
                return
            item = await run.next()
    finally:
        if not run.finished:  # the client went away mid-stream
            run.cancel()


def _frame(framer: wire.ChunkFramer, item: Any) -> bytes:
    if isinstance(item, DeltaChunk):
        return framer.choice(item.delta, item.finish_reason)
    if isinstance(item, UsageChunk):
        return framer.usage(item.prompt_tokens, item.completion_tokens)
    if isinstance(item, ErrorChunk):
        return wire.error_event(item.error)
    if isinstance(item, Done):
        return wire.DONE
    return b""


ROUTES = [chat_completions]
