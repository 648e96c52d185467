"""The per-request context that travels with a request into tools and nested agent runs.

It lives in a ContextVar: asyncio copies it into the Agents SDK's tool tasks and nested runs,
so a tool call always knows its caller's key, the request and where to record events.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from app.ports.recorder import Recorder
from domain.policy import Principal


@dataclass(slots=True)
class RequestContext:
    request_id: str
    principal: Principal
    recorder: Recorder
    agent: str = ""  # the drop-in agent serving the request, "" for upstream passthrough
    agent_tools: tuple[str, ...] = ()  # the agent's own tool list (policy: key ∩ agent)
    tool_manager: Any = None  # app.services.tools.ToolManager of the serving app
    # call id -> "completed" | "failed", as the ToolManager ended each governed call.
    tool_outcomes: dict[str, str] = field(default_factory=dict)

    def outcome(self, call_id: str) -> str:
        return self.tool_outcomes.get(call_id, "completed")


current_request: ContextVar[RequestContext | None] = ContextVar("ledgergate_request", default=None)
