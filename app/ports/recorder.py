"""Where a request's events go: recorded in order, durable on ``flush``.

``app.services.recorder.RequestRecorder`` is the one implementation (it batches into the
``EventStore``); adapters that record for a request (the SDK's upstream transport, governed
tools) name this port, never the service class.
"""

from __future__ import annotations

from typing import Protocol

from domain.events import Event


class Recorder(Protocol):
    """One request's event stream, as producers see it."""

    @property
    def request_id(self) -> str: ...

    async def record(self, *events: Event) -> None:
        """Queue ``events`` (atomically, in order) for the request's stream."""
        ...

    async def flush(self) -> int:
        """Wait until everything recorded so far is durable; return the last position."""
        ...
