"""The log's exported form (the contract's JSON Lines), as routes see it.

The bytes depend on the store's hash chain, so ``app.adapters.eventstore.export`` makes them;
routes name this port and receive the adapter from ``app.main``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.ports import RecordedEvent


class LogExport(Protocol):
    def line(self, rec: RecordedEvent) -> bytes:
        """One exported event: a JSON object on one line (no newline), members in contract order."""
        ...

    def bundle(self, checkpoint: str, events: Sequence[RecordedEvent], proofs_json: bytes) -> bytes:
        """A request's audit bundle: ``{"checkpoint", "events": [exported events], "proofs"}``."""
        ...
