"""``/v1/responses``: create (streamed or not), retrieve, and list a response's input items.

Creation runs on the chat machinery (``ResponsesService``); this module shapes bytes. As on chat
completions, a streamed answer is held until its first item so an early failure still gets a
real HTTP status; a later failure ends the stream with ``response.failed``. A client that goes
away cancels the run (``request.cancelled``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter
from litestar.response import Response, Stream

from app.api import wire
from app.api.auth import principal_of
from app.api.chat import SHOW_TOOLS_HEADER, AnyRequest, ClientClosedRequest, client_of, read_body
from app.api.exception_handlers import error_response
from app.errors import BadRequest, GatewayError, internal_error
from app.ids import new_response_id
from app.services import responses_convert as rc
from app.services import responses_events as rw
from app.services.chat import first_or_disconnect
from app.services.chat_run import Answer, ChatRun, DeltaChunk, Done, ErrorChunk, UsageChunk
from app.services.responses import ResponsesService


def _service(service: ResponsesService | None) -> ResponsesService:
    if service is None:
        raise internal_error()
    return service


@post(
    "/v1/responses",
    status_code=200,
    request_max_body_size=None,  # enforced by read_body with settings.max_body_bytes
    summary="Create a model response (OpenAI Responses API)",
    tags=["OpenAI"],
)
async def create_response(
    request: AnyRequest,
    responses: NamedDependency[ResponsesService | None],
) -> Response[Any]:
    response_id = new_response_id()
    headers = {"x-request-id": response_id}
    try:
        service = _service(responses)
        principal = principal_of(request)
        body = wire.decode_body(await read_body(request, service.chat.settings.max_body_bytes))
        show_tools = request.headers.get(SHOW_TOOLS_HEADER, "").strip().lower() == "true"
        run = await service.start(
            principal,
            body,
            client=client_of(request),
            request_id=response_id,
            show_tools=show_tools,
        )
        first = await first_or_disconnect(run, request.receive)  # type: ignore[arg-type]
        if first is None:
            raise ClientClosedRequest("The client closed the request.")
    except GatewayError as exc:
        return error_response(exc, headers)
    if isinstance(first, Answer):
        return Response(
            content=_whole(run, body, first), media_type="application/json", headers=headers
        )
    headers["cache-control"] = "no-cache"
    return Stream(_sse(run, body, first), media_type="text/event-stream", headers=headers)


def _whole(run: ChatRun, body: dict[str, Any], answer: Answer) -> bytes:
    status, details = rw.status_of(answer.finish_reason)
    if answer.shown is None:
        output = rc.output_items(run.request_id, answer.message)
    else:  # x-ledgergate-show-tools: the gateway's tool calls are items too, in order
        deltas = [chunk.delta for chunk in answer.shown]
        output = rw.shown_output(run.request_id, body, deltas, answer.finish_reason)
    obj = rw.response_object(
        run.request_id,
        body,
        created_at=run.created,
        status=status,
        output=output,
        usage=rw.usage(answer.prompt_tokens, answer.completion_tokens),
        incomplete_details=details,
    )
    return rw.encode(obj)


async def _sse(run: ChatRun, body: dict[str, Any], first: Any) -> AsyncIterator[bytes]:
    """Typed SSE frames; each write carries every item already queued (never waits for more)."""
    framer = rw.EventFramer(run.request_id, body)
    frames = framer.start()
    item = first
    try:
        while True:
            frames += _frames(framer, item)
            while not isinstance(item, Done) and (ready := run.next_ready()) is not None:
                item = ready
                frames += _frames(framer, item)
            if frames:
                yield b"".join(frames)
                frames = []
            if isinstance(item, Done):
                return
            item = await run.next()
    finally:
        if not run.finished:  # the client went away mid-stream
            run.cancel()


def _frames(framer: rw.EventFramer, item: Any) -> list[bytes]:
    if framer.ended:  # after response.failed, only the run's Done is left
        return []
    if isinstance(item, DeltaChunk):
        return framer.delta(item.delta, item.finish_reason)
    if isinstance(item, UsageChunk):
        framer.usage = rw.usage(item.prompt_tokens, item.completion_tokens)
        return []
    if isinstance(item, ErrorChunk):
        return framer.fail(item.error)
    if isinstance(item, Done):
        return framer.end()
    return []


@get("/v1/responses/{response_id:str}", summary="Retrieve a model response", tags=["OpenAI"])
async def retrieve_response(
    request: AnyRequest,
    response_id: FromPath[str],
    responses: NamedDependency[ResponsesService | None],
) -> Response[bytes]:
    try:
        stored = await _service(responses).find(principal_of(request), response_id)
    except GatewayError as exc:
        return error_response(exc)
    replayed = stored.replayed
    status = replayed.status
    details = None
    if status == "completed":
        status, details = rw.status_of(replayed.finish_reason)
    elif status != "in_flight":
        status = "failed" if status == "failed" else "cancelled"
    else:
        status = "in_progress"
    usage = replayed.usage
    terminal = replayed.terminal or {}
    obj = rw.response_object(
        response_id,
        stored.body,
        created_at=terminal.get("created") or _seconds(replayed.received_at),
        status=status,
        output=stored.output,
        usage=rw.usage(usage["prompt_tokens"], usage["completion_tokens"]) if usage else None,
        error={"code": terminal.get("code"), "message": terminal.get("message")}
        if status == "failed"
        else None,
        incomplete_details=details,
    )
    return Response(content=rw.encode(obj), media_type="application/json")


def _seconds(recorded_at: str) -> int:
    return int(datetime.fromisoformat(recorded_at.replace("Z", "+00:00")).timestamp())


@get(
    "/v1/responses/{response_id:str}/input_items",
    summary="List a model response's input items",
    tags=["OpenAI"],
)
async def list_input_items(
    request: AnyRequest,
    response_id: FromPath[str],
    responses: NamedDependency[ResponsesService | None],
    *,
    limit: int = Parameter(default=20, ge=1, le=100),
    order: str = Parameter(default="desc"),
    after: str | None = Parameter(default=None),
) -> Response[bytes]:
    try:
        if order not in ("asc", "desc"):
            raise BadRequest("'order' must be asc or desc.", param="order")
        stored = await _service(responses).find(principal_of(request), response_id)
    except GatewayError as exc:
        return error_response(exc)
    items = rc.listed_input_items(response_id, stored.input)
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    body = {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }
    return Response(content=rw.encode(body), media_type="application/json")


ROUTES = [create_response, retrieve_response, list_input_items]
