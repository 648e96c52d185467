"""The registry of served drop-in agents, kept current by discovery and read by the chat service."""

from __future__ import annotations

from dataclasses import dataclass

from app.ports.chat_backend import ChatBackend
from domain.events import DropinFailed


class DropinError(Exception):
    """A drop-in (agent or tool module) that cannot be served, with what to do about it."""

    def __init__(self, error_type: str, message: str, remediation: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.remediation = remediation


@dataclass(frozen=True, slots=True)
class AgentEntry:
    name: str  # the model id clients use
    kind: str  # "declarative" | "sdk" | "agent_builder"
    path: str
    backend: ChatBackend
    tools: tuple[str, ...] = ()  # the agent's own tools (policy: key ∩ agent)
    digest: str = ""
    description: str = ""


class AgentRegistry:
    """Name → entry. Swapped whole per name, so a request keeps the entry it started with."""

    def __init__(self) -> None:
        self._agents: dict[str, AgentEntry] = {}
        # Names whose drop-in failed at the last scan: a 503 with the remediation, never a
        # fall-through to an upstream model of the same name.
        self.failed: dict[str, DropinFailed] = {}

    def get(self, name: str) -> AgentEntry | None:
        return self._agents.get(name)

    def all(self) -> list[AgentEntry]:
        return sorted(self._agents.values(), key=lambda e: e.name)

    def put(self, entry: AgentEntry) -> None:
        self._agents[entry.name] = entry

    def remove(self, name: str) -> AgentEntry | None:
        return self._agents.pop(name, None)
