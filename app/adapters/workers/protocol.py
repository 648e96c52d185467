"""What the gateway and an import probe process send each other (msgpack, via a pipe)."""

from __future__ import annotations

from typing import Any

import msgspec


class ProbeRequest(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # "agent" (a Python drop-in) | "tool_module"
    name: str
    path: str
    folder: str | None
    cwd: str
    env: dict[str, str]
    memory_limit_mb: int
    gateway_tools: list[tuple[str, str, dict[str, Any], bool]]  # name, description, schema, strict


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    error_type: str = ""
    message: str = ""
    remediation: str = ""
