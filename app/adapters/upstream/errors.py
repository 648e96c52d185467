"""Translate errors met while calling the upstream (openai, httpx2, JSON) into gateway errors."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import httpx2
import msgspec
import openai

from app.errors import (
    BadRequest,
    GatewayError,
    NotFound,
    RateLimited,
    Unprocessable,
    UpstreamError,
    UpstreamTimeout,
)

# Upstream messages can echo a (partly masked) key back, e.g. "Incorrect API key provided: sk-…".
_SECRET = re.compile(r"\b(?:sk|lg|key)-[A-Za-z0-9_\-*.]{6,}|\bBearer\s+\S+", re.IGNORECASE)

_PASSED_THROUGH: dict[int, type[GatewayError]] = {
    400: BadRequest,
    404: NotFound,
    422: Unprocessable,
    429: RateLimited,
}

_STREAM_BROKEN = (
    httpx2.RemoteProtocolError,
    httpx2.ReadError,
    httpx.RemoteProtocolError,
    httpx.ReadError,
)
_TIMEOUTS = (httpx2.TimeoutException, httpx.TimeoutException, TimeoutError)
_CONNECT = (httpx2.TransportError, httpx.TransportError)


def scrub(message: str) -> str:
    """``message`` with anything that looks like a credential replaced."""
    return _SECRET.sub("[redacted]", message)


def _status_error(exc: openai.APIStatusError) -> GatewayError:
    body: Any = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        message = f"The upstream answered {exc.status_code}."
    code = body.get("code") if isinstance(body, dict) else None
    param = body.get("param") if isinstance(body, dict) else None
    cls = _PASSED_THROUGH.get(exc.status_code)
    if cls is None:
        # 401/403 from the upstream mean *our* upstream credentials are wrong: not the caller's
        # business, and their message may describe the key. Everything else is a bad gateway.
        return UpstreamError(
            f"The upstream failed with status {exc.status_code}.",
            code="upstream_status_" + str(exc.status_code),
        )
    return cls(
        scrub(message),
        code=str(code) if isinstance(code, str | int) else None,
        param=param if isinstance(param, str) else None,
    )


def _broken_body(exc: BaseException) -> bool:
    """openai wraps a body cut short (after the headers) in APIConnectionError; find that."""
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, _STREAM_BROKEN) and (
        isinstance(cause, httpx2.ReadError | httpx.ReadError) or "message body" in str(cause)
    )


def translate(exc: BaseException, *, mid_stream: bool = False) -> GatewayError:
    """The gateway error a client should see for ``exc`` raised while talking to the upstream.

    ``mid_stream``: the upstream's response had begun, so a lost connection is a broken stream.
    """
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, (openai.APITimeoutError, *_TIMEOUTS)):
        return UpstreamTimeout("The upstream did not answer in time.")
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc)
    if isinstance(
        exc, openai.APIResponseValidationError | json.JSONDecodeError | msgspec.DecodeError
    ):
        return UpstreamError(
            "The upstream sent a malformed response.", code="upstream_bad_response"
        )
    if isinstance(exc, _STREAM_BROKEN) or (
        isinstance(exc, (openai.APIConnectionError, *_CONNECT))
        and (mid_stream or _broken_body(exc))
    ):
        return UpstreamError(
            "The upstream closed the stream before it finished.", code="upstream_stream_broken"
        )
    if isinstance(exc, (openai.APIConnectionError, *_CONNECT)):
        return UpstreamError("The upstream could not be reached.", code="upstream_unavailable")
    if isinstance(exc, ValueError):
        # openai's SSE decoder raises plain ValueError / JSON errors on garbage frames.
        return UpstreamError(
            "The upstream sent a malformed response.", code="upstream_bad_response"
        )
    return UpstreamError("The upstream call failed.", code="upstream_error")
