"""Access policy: who may use which agent, model and tool. Pure rules, deny by default.

Filled in by the tool-governance work; ``Principal`` is shared by every caller.
"""

from __future__ import annotations

import msgspec


class Principal(msgspec.Struct, frozen=True):
    """The caller behind a key. Globs: ``[]`` allows nothing, ``["*"]`` everything."""

    key_id: str
    name: str
    admin: bool = False
    agents: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
