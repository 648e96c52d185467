"""Gateway errors and the one place that turns them into OpenAI-style error JSON.

Hierarchy::

    GatewayError                 status, type, code, param, message
    ├── BadRequest               400 invalid_request_error
    ├── Unauthorized             401 invalid_request_error / invalid_api_key
    ├── Forbidden                403 permission_error
    ├── NotFound                 404 invalid_request_error / model_not_found
    ├── PayloadTooLarge          413 invalid_request_error / request_too_large
    ├── Unprocessable            422 invalid_request_error
    ├── RateLimited              429 rate_limit_error
    ├── UpstreamError            502 upstream_error (or the upstream's own 400/429, passed through)
    ├── LogUnavailableError      503 log_unavailable, with Retry-After (disk full, read-only log)
    ├── DropinUnavailable        503 dropin_unavailable (the drop-in of that name failed to load)
    └── UpstreamTimeout          504 timeout

Foreign errors (``openai``, ``httpx``, the Agents SDK) are translated once, at the adapter
that meets them, with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from domain.ports import LogUnavailable


class ErrorBody(msgspec.Struct):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(msgspec.Struct):
    error: ErrorBody


class GatewayError(Exception):
    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None
    retry_after_s: ClassVar[int | None] = None  # sent as Retry-After when set

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        if status is not None:
            self.status = status  # type: ignore[misc]
        if error_type is not None:
            self.error_type = error_type  # type: ignore[misc]

    def body(self) -> ErrorResponse:
        return ErrorResponse(ErrorBody(self.message, self.error_type, self.param, self.code))

    def to_json(self) -> bytes:
        return msgspec.json.encode(self.body())


class BadRequest(GatewayError):
    status = 400
    error_type = "invalid_request_error"


class Unauthorized(GatewayError):
    status = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class Forbidden(GatewayError):
    status = 403
    error_type = "permission_error"
    default_code = "forbidden"


class NotFound(GatewayError):
    status = 404
    error_type = "invalid_request_error"
    default_code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class Unprocessable(GatewayError):
    status = 422
    error_type = "invalid_request_error"


class RateLimited(GatewayError):
    status = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamError(GatewayError):
    status = 502
    error_type = "upstream_error"
    default_code = "upstream_error"


class LogUnavailableError(GatewayError):
    """The event log cannot be written for now: nothing was answered, retry shortly."""

    status = 503
    error_type = "server_error"
    default_code = "log_unavailable"
    retry_after_s = 2


def log_unavailable(exc: LogUnavailable) -> LogUnavailableError:
    return LogUnavailableError(
        f"The gateway cannot record requests right now ({exc.reason}); retry shortly."
    )


class EndedElsewhere(GatewayError):
    """Another node ended this request as interrupted while this one was still answering it
    (this node stalled past its lease): the answer is not in the log, so it is not given."""

    status = 503
    error_type = "server_error"
    default_code = "request_interrupted"


def ended_elsewhere() -> EndedElsewhere:
    return EndedElsewhere(
        "Another gateway node ended this request as interrupted (this node missed its lease"
        " renewal); retry."
    )


class DropinUnavailable(GatewayError):
    """The model names a drop-in that failed to load: its remediation says what to fix."""

    status = 503
    error_type = "server_error"
    default_code = "dropin_unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    error_type = "timeout"
    default_code = "upstream_timeout"


def internal_error() -> GatewayError:
    """What a client sees for a bug of ours: no trace, no detail."""
    return GatewayError("The gateway failed to handle this request.", code="internal_error")
