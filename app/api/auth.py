"""Who is calling: the Bearer key of a request, resolved to a Principal, or an OpenAI-style 401."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from app.api.deps import services
from app.errors import Forbidden, Unauthorized
from app.ids import uuid7
from domain.events import AclDecided
from domain.policy import Principal
from domain.ports import NewEvent

NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
BAD_KEY = "Incorrect API key provided. Ask the gateway's operator for a valid key."
NOT_ADMIN = "This route needs an admin key."
NOT_READER = "This route needs an admin or an auditor key."


def bearer_of(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def principal_of(request: Any) -> Principal:
    """The caller of ``request`` (a Litestar connection); raises Unauthorized (401)."""
    bearer = bearer_of(request.headers.get("authorization"))
    if bearer is None:
        raise Unauthorized(NO_KEY)
    principal = services(request).keys.authenticate(bearer)
    if principal is None:
        raise Unauthorized(BAD_KEY)
    return principal


async def _refuse(connection: Any, principal: Principal, action: str, rule: str) -> None:
    """Append the denial (durably, before the 403 goes out) to the ``acl`` stream."""
    decision = AclDecided(
        subject=principal.key_id,
        action=action,
        resource=f"{connection.scope['method']} {connection.url.path}",
        decision="deny",
        rule=rule,
    )
    await services(connection).store.append("acl", [NewEvent.of(decision, uuid7())])


async def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar guard: the caller must hold an admin key (401 without a key, 403 otherwise).

    A valid key refused an admin route is an access decision like any other, so the denial is
    an ``acl.decided`` event. Allowed admin reads are not logged: a Prometheus scrape every few
    seconds would fill the log with its own reads.
    """
    principal = principal_of(connection)
    if not principal.admin:
        await _refuse(connection, principal, "admin", "key.admin:false")
        raise Forbidden(NOT_ADMIN)


async def reader_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar guard: the caller must hold an admin or an auditor key (the log's readers)."""
    principal = principal_of(connection)
    if not (principal.admin or principal.auditor):
        await _refuse(connection, principal, "audit", "key.admin:false,key.auditor:false")
        raise Forbidden(NOT_READER)


ADMIN = [admin_guard]
READERS = [reader_guard]


def key_freshness_middleware(app: ASGIApp) -> ASGIApp:
    """Before each HTTP request, let the key registry catch up with keys other processes wrote.

    ``principal_of`` stays synchronous; this is where the await happens: on an unknown key, and at
    most about once a second otherwise (``KeyService.ensure_fresh``). It never rejects anything.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            held = scope["litestar_app"].state.get("services")
            if held is not None:
                bearer = None
                for name, value in scope.get("headers", ()):
                    if name == b"authorization":
                        bearer = bearer_of(value.decode("latin-1"))
                        break
                await held.keys.ensure_fresh(bearer)
        await app(scope, receive, send)

    return middleware
