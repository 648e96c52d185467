"""What the gateway and its drop-in processes (import probes, workers) send each other (msgpack)."""

from __future__ import annotations

from typing import Any

import msgspec

from app.ports.chat_backend import ChatRequest, Delta


class ProbeRequest(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # "agent" (a Python drop-in) | "tool_module" | "worker" (serve the drop-in)
    name: str
    path: str
    folder: str | None
    cwd: str
    env: dict[str, str]
    memory_limit_mb: int
    gateway_tools: list[tuple[str, str, dict[str, Any], bool]]  # name, description, schema, strict
    max_turns: int = 10  # workers only
    upstream_label: str = ""  # workers only: the settings rules depend on the upstream


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    error_type: str = ""
    message: str = ""
    remediation: str = ""


# A worker process reuses ``ProbeRequest`` (kind "worker") to start. After that, the gateway and
# the worker talk over one Unix stream socket: length-prefixed msgpack ``Message`` frames, the
# runs of one worker multiplexed by ``run`` id (see ``frames`` and ADR 0010).


class ErrorFields(msgspec.Struct, frozen=True, kw_only=True):
    """A ``GatewayError`` on the wire: its public class (``app.errors``) and fields."""

    cls: str
    message: str
    status: int
    error_type: str
    code: str | None = None
    param: str | None = None


class Ready(msgspec.Struct, frozen=True, kw_only=True, tag="ready"):
    """Worker → gateway, once: the drop-in imported; what the registry shows of it."""

    kind: str  # "sdk" | "agent_builder"
    entrypoint: str
    tools: list[str]
    description: str


class LoadFailed(msgspec.Struct, frozen=True, kw_only=True, tag="load_failed"):
    error_type: str
    message: str
    remediation: str


class RunStart(msgspec.Struct, frozen=True, kw_only=True, tag="run"):
    run: int
    request: ChatRequest
    request_id: str
    agent: str
    agent_tools: list[str]


class RunCancel(msgspec.Struct, frozen=True, kw_only=True, tag="cancel"):
    run: int


class Deltas(msgspec.Struct, frozen=True, kw_only=True, tag="deltas"):
    run: int
    items: list[Delta]


class RunEnded(msgspec.Struct, frozen=True, kw_only=True, tag="ended"):
    run: int


class RunFailed(msgspec.Struct, frozen=True, kw_only=True, tag="failed"):
    run: int
    error: ErrorFields


class ModelCall(msgspec.Struct, frozen=True, kw_only=True, tag="model_call"):
    """Worker → gateway: the SDK's HTTP request body for one upstream call (JSON bytes)."""

    run: int
    call: int
    api: str
    body: bytes


class ModelStop(msgspec.Struct, frozen=True, kw_only=True, tag="model_stop"):
    """Worker → gateway: the SDK stopped reading this call's answer."""

    run: int
    call: int


class ModelEvents(msgspec.Struct, frozen=True, kw_only=True, tag="model_events"):
    """Gateway → worker: upstream event payloads (SSE ``data``), or the one JSON body."""

    run: int
    call: int
    data: list[bytes]


class ModelEnd(msgspec.Struct, frozen=True, kw_only=True, tag="model_end"):
    run: int
    call: int
    prompt_tokens: int
    completion_tokens: int


class ModelFailed(msgspec.Struct, frozen=True, kw_only=True, tag="model_failed"):
    run: int
    call: int
    error: ErrorFields


class ToolCall(msgspec.Struct, frozen=True, kw_only=True, tag="tool_call"):
    """Worker → gateway: a tool call to govern. ``kind``: "sdk" (the worker runs it once
    allowed, on ``ToolExec``), "gateway" (``use_gateway_tool``: the gateway runs it) or "check"
    (an MCP call: only the access decision)."""

    run: int
    n: int
    kind: str
    name: str
    arguments: str
    call_id: str


class ToolExec(msgspec.Struct, frozen=True, kw_only=True, tag="tool_exec"):
    """Gateway → worker: the call ``n`` is allowed, run the tool now."""

    n: int


class ToolResult(msgspec.Struct, frozen=True, kw_only=True, tag="tool_result"):
    """Worker → gateway: how the tool's own code ended. ``error_type`` set: it raised."""

    n: int
    text: str = ""
    error_type: str | None = None
    reraise: bool = False  # an Agents SDK exception meant to stop the run


class ToolDone(msgspec.Struct, frozen=True, kw_only=True, tag="tool_done"):
    """Gateway → worker: what the model reads, and how the gateway recorded the call."""

    n: int
    text: str = ""
    outcome: str = "completed"  # "completed" | "failed"
    raise_original: bool = False  # re-raise the tool's own exception (see ToolResult.reraise)
    abort_outcome: str | None = None  # the manager aborts runs on denial/error: raise


class Ping(msgspec.Struct, frozen=True, kw_only=True, tag="ping"):
    n: int


class Pong(msgspec.Struct, frozen=True, kw_only=True, tag="pong"):
    n: int


Message = (
    Ready
    | LoadFailed
    | RunStart
    | RunCancel
    | Deltas
    | RunEnded
    | RunFailed
    | ModelCall
    | ModelStop
    | ModelEvents
    | ModelEnd
    | ModelFailed
    | ToolCall
    | ToolExec
    | ToolResult
    | ToolDone
    | Ping
    | Pong
)
