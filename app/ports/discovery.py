"""Drop-in discovery as routes and the composition root see it: scan now, get a report.

``app.adapters.discovery.scanner.Discovery`` implements it (files, imports, the registry and
the ``discovery`` stream's events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from domain.events import AgentLoaded, AgentUnloaded, DropinFailed


@dataclass
class ScanReport:
    """What one scan did: one entry per drop-in or tool module it loaded, failed or unloaded."""

    scan_id: str
    loaded: list[AgentLoaded] = field(default_factory=list)
    failed: list[DropinFailed] = field(default_factory=list)
    unloaded: list[AgentUnloaded] = field(default_factory=list)
    unchanged: int = 0


class DropinScanner(Protocol):
    async def scan(self, reason: str) -> ScanReport:
        """Scan every drop-in root once (``reason``: startup, admin, cli, watch)."""
        ...
