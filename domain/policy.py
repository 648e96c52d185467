"""Access policy: who may use which agent, model and tool. Pure rules, deny by default.

A principal's globs allow nothing when empty (``[]``) and everything with ``["*"]``. A tool call
needs both the key and the serving agent's own tool list to allow it; an admin key passes the
key's side of every check, never the agent's (an agent's tool list is what it can do, not a right).
Every decision names the rule that decided it, for the ``acl.decided`` audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

import msgspec


class Principal(msgspec.Struct, frozen=True):
    """The caller behind a key. Globs: ``[]`` allows nothing, ``["*"]`` everything."""

    key_id: str
    name: str
    admin: bool = False
    agents: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    auditor: bool = False  # may read the log, requests, replays and /audit/*: nothing else


class PolicyDecision(msgspec.Struct, frozen=True):
    """Allowed or not, and the rule that decided (e.g. ``"key.tools:search_*"``)."""

    allowed: bool
    rule: str


ADMIN = PolicyDecision(True, "admin")


def first_match(globs: Sequence[str], name: str) -> str | None:
    """The first glob (case-sensitive, ``fnmatch`` syntax) that matches ``name``."""
    for glob in globs:
        if fnmatchcase(name, glob):
            return glob
    return None


def _decide_key(field: str, globs: Sequence[str], name: str) -> PolicyDecision:
    glob = first_match(globs, name)
    if glob is not None:
        return PolicyDecision(True, f"key.{field}:{glob}")
    shown = "[" + ", ".join(globs) + "]"
    return PolicyDecision(False, f"key.{field}:{shown} (deny by default)")


def decide_agent(principal: Principal, agent: str) -> PolicyDecision:
    """May ``principal`` use the drop-in agent ``agent`` as a model?"""
    if principal.admin:
        return ADMIN
    return _decide_key("agents", principal.agents, agent)


def decide_model(principal: Principal, model: str) -> PolicyDecision:
    """May ``principal`` call the upstream model ``model`` directly?"""
    if principal.admin:
        return ADMIN
    return _decide_key("models", principal.models, model)


def decide_tool(
    principal: Principal, agent_tools: Sequence[str] | None, tool: str
) -> PolicyDecision:
    """May ``principal`` run ``tool`` for an agent whose own tools are ``agent_tools``?

    ``agent_tools=None`` means no agent constraint; ``()`` means the agent has no tools.
    """
    if agent_tools is not None and first_match(agent_tools, tool) is None:
        return PolicyDecision(False, "agent.tools")
    if principal.admin:
        return ADMIN
    return _decide_key("tools", principal.tools, tool)
