"""Upstream failures as gateway errors: translated once, here, by exception type and status.

The model is httpx's own ``map_httpcore_exceptions``: the adapter that calls the library maps
its exceptions at the boundary and raises ``GatewayError``s ``from`` them, so nothing above it
ever sees an ``httpx2`` exception or matches on message text. ``begun``: the upstream's answer
had started (its headers were in), so a lost connection is a broken stream, not an unreachable
upstream.
"""

from __future__ import annotations

import re
from typing import Any

import httpx2
import msgspec

from app.errors import (
    BadRequest,
    GatewayError,
    NotFound,
    RateLimited,
    Unprocessable,
    UpstreamError,
    UpstreamTimeout,
)
from app.ports.upstream import UpstreamStatusError

# Upstream messages can echo a (partly masked) key back, e.g. "Incorrect API key provided: sk-…".
_SECRET = re.compile(r"\b(?:sk|lg|key)-[A-Za-z0-9_\-*.]{6,}|\bBearer\s+\S+", re.IGNORECASE)


class _BadRequest(UpstreamStatusError, BadRequest):
    pass


class _NotFound(UpstreamStatusError, NotFound):
    pass


class _Unprocessable(UpstreamStatusError, Unprocessable):
    pass


class _RateLimited(UpstreamStatusError, RateLimited):
    pass


class _BadGateway(UpstreamStatusError, UpstreamError):
    pass


# Statuses that are the caller's business: passed through with the upstream's message.
_PASSED_THROUGH: dict[int, type[UpstreamStatusError]] = {
    400: _BadRequest,
    404: _NotFound,
    422: _Unprocessable,
    429: _RateLimited,
}


def scrub(message: str) -> str:
    """``message`` with anything that looks like a credential replaced."""
    return _SECRET.sub("[redacted]", message)


def _error_object(body: bytes) -> dict[str, Any]:
    """The ``error`` object of an OpenAI-style error body (``{}`` when it is not one)."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    error = decoded.get("error") if isinstance(decoded, dict) else None
    return error if isinstance(error, dict) else {}


def status_error(status: int, body: bytes) -> UpstreamStatusError:
    """The error for an upstream answer with HTTP ``status`` >= 400 and ``body``."""
    cls = _PASSED_THROUGH.get(status)
    if cls is None:
        # 401/403 from the upstream mean *our* upstream credentials are wrong: not the caller's
        # business, and their message may describe the key. Everything else is a bad gateway.
        error: UpstreamStatusError = _BadGateway(
            f"The upstream failed with status {status}.", code=f"upstream_status_{status}"
        )
    else:
        fields = _error_object(body)
        message = fields.get("message")
        if not isinstance(message, str) or not message:
            message = f"The upstream answered {status}."
        code = fields.get("code")
        param = fields.get("param")
        error = cls(
            scrub(message),
            code=str(code) if isinstance(code, str | int) else None,
            param=param if isinstance(param, str) else None,
        )
    error.upstream_status = status
    return error


def transport_error(exc: BaseException, *, begun: bool) -> GatewayError:
    """The gateway error for ``exc`` raised by httpx2 (or the transport under it)."""
    if isinstance(exc, httpx2.TimeoutException):
        return UpstreamTimeout("The upstream did not answer in time.")
    if isinstance(exc, httpx2.DecodingError):
        return UpstreamError(
            "The upstream sent a malformed response.", code="upstream_bad_response"
        )
    if isinstance(exc, httpx2.TransportError) and begun:
        return UpstreamError(
            "The upstream closed the stream before it finished.", code="upstream_stream_broken"
        )
    if isinstance(exc, httpx2.TransportError):
        return UpstreamError("The upstream could not be reached.", code="upstream_unavailable")
    return UpstreamError("The upstream call failed.", code="upstream_error")


def bad_response(message: str = "The upstream sent a malformed response.") -> GatewayError:
    return UpstreamError(message, code="upstream_bad_response")
