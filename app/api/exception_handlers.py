"""Litestar exception handlers: every error leaves as OpenAI's ``{"error": {...}}`` JSON.

``GatewayError`` carries its own status and body; Litestar's own errors (unknown route, wrong
method, bad body, body too large) are translated to the matching ``GatewayError``; anything
else is a bug of ours, logged here and answered with a bare 500, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from app.errors import (
    BadRequest,
    Forbidden,
    GatewayError,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    internal_error,
    log_unavailable,
)
from domain.ports import LogUnavailable

log = logging.getLogger("ledgergate.api")

AnyRequest = Request[Any, Any, Any]


def error_response(exc: GatewayError, headers: dict[str, str] | None = None) -> Response[bytes]:
    if exc.retry_after_s is not None:
        headers = {**(headers or {}), "retry-after": str(exc.retry_after_s)}
    return Response(
        content=exc.to_json(),
        status_code=exc.status,
        media_type="application/json",
        headers=headers,
    )


def on_gateway_error(request: AnyRequest, exc: Exception) -> Response[bytes]:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


def _validation_message(exc: ValidationException) -> str:
    problems = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            key, message = item.get("key"), item.get("message", "")
            problems.append(f"{key}: {message}" if key else str(message))
    detail = exc.detail or "Invalid request."
    return f"{detail}: {'; '.join(problems)}" if problems else detail


def translate_http_exception(request: AnyRequest, exc: HTTPException) -> GatewayError:
    """Litestar's own HTTP errors as the matching gateway errors."""
    status = exc.status_code
    where = f"{request.method} {request.url.path}"
    if status == 404:
        return GatewayError(
            f"Invalid URL ({where}).",
            status=404,
            error_type="invalid_request_error",
            code="unknown_url",
        )
    if status == 405:
        return GatewayError(
            f"Method not allowed ({where}).",
            status=405,
            error_type="invalid_request_error",
            code="method_not_allowed",
        )
    if status == 413:
        return PayloadTooLarge("The request body is too large.")
    if isinstance(exc, ValidationException) or status == 400:
        return BadRequest(
            _validation_message(exc)
            if isinstance(exc, ValidationException)
            else (exc.detail or "Invalid request.")
        )
    if status == 401:
        return Unauthorized(exc.detail or "Invalid authentication.")
    if status == 403:
        return Forbidden(exc.detail or "Forbidden.")
    if status == 429:
        return RateLimited(exc.detail or "Too many requests.")
    if 400 <= status < 500:
        return GatewayError(
            exc.detail or "Invalid request.", status=status, error_type="invalid_request_error"
        )
    return internal_error()


def on_http_exception(request: AnyRequest, exc: Exception) -> Response[bytes]:
    assert isinstance(exc, HTTPException)
    if exc.status_code >= 500:
        log.error("HTTP %s on %s %s: %s", exc.status_code, request.method, request.url.path, exc)
    headers = dict(exc.headers) if exc.headers else None  # e.g. Allow on a 405
    return error_response(translate_http_exception(request, exc), headers)


def on_log_unavailable(request: AnyRequest, exc: Exception) -> Response[bytes]:
    assert isinstance(exc, LogUnavailable)
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return error_response(log_unavailable(exc))


def on_unexpected(request: AnyRequest, exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(internal_error())


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    GatewayError: on_gateway_error,
    HTTPException: on_http_exception,
    LogUnavailable: on_log_unavailable,
    Exception: on_unexpected,
}
