"""CORS for browser apps on ``/v1/*`` (``LEDGERGATE_CORS_ORIGINS``; empty: no CORS at all).

An allowed ``Origin`` gets its preflight (``OPTIONS`` with ``Access-Control-Request-Method``)
answered 204 before any route or key check runs, and every ``/v1/*`` response carries
``Access-Control-Allow-Origin`` (the origin itself, with ``Vary: Origin``) and exposes
``x-request-id``. Other origins and other paths get no CORS headers, so browsers refuse them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

# Plain ASGI mappings: Litestar's TypedDicts would only restate the ASGI spec here.
Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[..., Awaitable[None]]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

PREFIX = "/v1/"
ALLOW_METHODS = b"GET, POST, OPTIONS"
MAX_AGE = b"600"
DEFAULT_HEADERS = b"authorization, content-type, x-ledgergate-show-tools"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class CorsMiddleware:
    """ASGI middleware, outermost: sees preflights before routing and key checks."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.any = "*" in origins
        self.origins = frozenset(o.rstrip("/").encode() for o in origins if o != "*")

    def _allowed(self, origin: bytes | None) -> bool:
        return origin is not None and (self.any or origin.rstrip(b"/") in self.origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if not self._allowed(origin):
            await self.app(scope, receive, send)
            return
        assert origin is not None
        common = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        method = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and method is not None:
            asked = _header(scope, b"access-control-request-headers") or DEFAULT_HEADERS
            headers = [
                *common,
                (b"access-control-allow-methods", ALLOW_METHODS),
                (b"access-control-allow-headers", asked),
                (b"access-control-max-age", MAX_AGE),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers") or [])
                headers += [*common, (b"access-control-expose-headers", b"x-request-id")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)
