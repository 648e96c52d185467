"""One access line per HTTP request in the gateway's own log format (uvicorn's is off):
request id, model, status and milliseconds, then method and path.

The chat handler names the model in the request's state (``ACCESS_MODEL``); the request id is
the ``x-request-id`` response header. A streamed answer is logged when its last byte is sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("app.access")

ACCESS_MODEL = "ledgergate_model"
Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[..., Awaitable[None]]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]


class AccessLogMiddleware:
    """ASGI middleware, outermost: sees every HTTP request, its status and its duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 0
        request_id = "-"

        async def send_and_watch(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers") or ():
                    if key == b"x-request-id":
                        request_id = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            line = (
                f"{request_id} {state.get(ACCESS_MODEL) or '-'}"
                f" {status or 499}"  # nothing was sent: the client went away
                f" {round((time.perf_counter() - started) * 1000)}ms"
                f" {scope.get('method', '-')} {scope.get('path', '-')}"
            )
            # Not log.info(): it would look up the caller's frame for every line; the record
            # names its origin itself (a quarter of the line's cost; docs/performance.md).
            record = log.makeRecord(log.name, logging.INFO, __file__, 0, line, (), None, "access")
            log.handle(record)
