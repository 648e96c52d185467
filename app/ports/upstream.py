"""The upstream model API as services see it: send one call, get its answer as raw events.

One call is a Chat Completions (``POST {base}/chat/completions``) or Responses
(``POST {base}/responses``) request. The answer comes back as an async generator of ``bytes``:
each SSE event's ``data`` payload when streamed (the ``[DONE]`` sentinel is not passed on), the
whole JSON body when not. Every failure (transport, status, timeouts, deadlines) reaches the
caller as a ``GatewayError`` already translated by the adapter; nothing foreign leaks out.
Recording ``upstream.call_*`` and decoding payloads into typed deltas is the caller's
(``app.services.upstream_calls``), so it happens in one place for every kind of caller.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Literal, Protocol

import msgspec

from app.errors import GatewayError

Api = Literal["chat", "responses"]

PATHS: dict[Api, str] = {"chat": "/chat/completions", "responses": "/responses"}


class UpstreamCall(msgspec.Struct, frozen=True, kw_only=True):
    """One request to the upstream: which API and the complete JSON body, as it will be sent."""

    api: Api = "chat"
    body: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True


class Upstream(Protocol):
    """The configured upstream (a real HTTP API or the offline scripted one)."""

    label: str  # ``scheme://host[:port]`` or ``scripted``: safe for the log
    scripted: bool

    def allows_model(self, model: str) -> bool:
        """Whether ``model`` may be called directly (passthrough)."""
        ...

    def send(self, call: UpstreamCall) -> AsyncGenerator[bytes, None]:
        """The answer's SSE ``data`` payloads (streamed) or its one body; ``GatewayError``s."""
        ...

    async def model_ids(self, timeout_s: float) -> list[str]:
        """The ids the upstream lists at ``GET {base}/models``."""
        ...

    async def close(self) -> None: ...


class UpstreamStatusError(GatewayError):
    """Base of the errors for an upstream that answered with an error status: the concrete
    error is also the class the client sees (``RateLimited``, ``UpstreamError``…), and
    ``upstream_status`` is what the upstream said (recorded in ``upstream.call_failed``)."""

    upstream_status: int = 0
