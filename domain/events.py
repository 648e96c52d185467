"""Every event type in the log, as frozen msgspec Structs with stable type names.

A type's name (``TYPE``) and a payload's ``SCHEMA_VERSION`` are part of the public contract:
never rename a type or change a field's meaning. To evolve a payload, bump ``SCHEMA_VERSION``
on the Struct and register an upcaster from the old version (see ``domain.upcasting``).

Durations are integer microseconds and sizes integer bytes, so payloads carry no floats of
our own (floats are where canonical-JSON encoders most often disagree).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

JsonObject = dict[str, Any]

ToolSource = Literal["gateway", "sdk", "hosted"]  # hosted: the upstream ran it (0.2)
ToolOutcome = Literal["ok", "error", "denied", "timeout"]
Decision = Literal["allow", "deny"]


class Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of every event payload; subclasses set ``TYPE`` and, if evolved, ``SCHEMA_VERSION``."""

    TYPE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1


EVENT_TYPES: dict[str, type[Event]] = {}


def _register(cls: type[Event]) -> type[Event]:
    if not cls.TYPE or cls.TYPE in EVENT_TYPES:
        raise ValueError(f"event type missing or registered twice: {cls.__name__} {cls.TYPE!r}")
    EVENT_TYPES[cls.TYPE] = cls
    return cls


# --- discovery -----------------------------------------------------------------------------


@_register
class ScanStarted(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "discovery.scan_started"
    scan_id: str
    roots: list[str]
    reason: str  # "startup" | "admin" | "cli" | "watch"


@_register
class AgentLoaded(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "discovery.agent_loaded"
    scan_id: str
    name: str
    path: str
    kind: str  # "sdk" | "agent_builder" | "declarative" | "tool_module"
    entrypoint: str
    digest: str  # sha256 of the drop-in's files, to tell a reload from a no-op
    tools: list[str] = []
    reloaded: bool = False


@_register
class DropinFailed(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "discovery.dropin_failed"
    scan_id: str
    name: str
    path: str
    kind: str  # "agent" | "tool_module"
    error_type: (
        str  # e.g. "import_error", "missing_dependency", "no_entrypoint", "ungovernable_tool"
    )
    message: str
    remediation: str
    digest: str = ""


@_register
class AgentUnloaded(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "discovery.agent_unloaded"
    scan_id: str
    name: str
    path: str
    reason: str  # "removed" | "failed_reload"


@_register
class ScanCompleted(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "discovery.scan_completed"
    scan_id: str
    loaded: int
    failed: int
    unloaded: int = 0
    unchanged: int = 0
    duration_us: int = 0


# --- requests ------------------------------------------------------------------------------


CHAT_API = "chat_completions"
RESPONSES_API = "responses"


@_register
class RequestReceived(Event, frozen=True, kw_only=True, omit_defaults=True):
    """v2 added ``api``: the route the request came in on (v1 requests were all chat)."""

    TYPE: ClassVar[str] = "request.received"
    SCHEMA_VERSION: ClassVar[int] = 2
    request_id: str
    key_id: str
    model: str
    stream: bool
    target: str  # "upstream" | "agent" | "unknown"
    body: JsonObject  # the request as sent (never headers, never credentials)
    client: str = ""
    api: str = CHAT_API  # "chat_completions" | "responses"
    node: str = ""  # the serving process (its lease says whether it is alive)


@_register
class AclDecided(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "acl.decided"
    subject: str  # key id
    action: str  # "use_model" | "use_agent" | "call_tool" | "admin"
    resource: str
    decision: Decision
    rule: str  # which rule decided, e.g. "key.tools:[]" or "agent.tools"
    request_id: str = ""
    agent: str = ""


@_register
class UpstreamCallStarted(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "upstream.call_started"
    request_id: str
    hop: int
    model: str
    stream: bool
    upstream: str  # "scripted" or the base URL's scheme://host[:port], never credentials


@_register
class UpstreamCallCompleted(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "upstream.call_completed"
    request_id: str
    hop: int
    duration_us: int
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_us: int = 0


@_register
class UpstreamCallFailed(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "upstream.call_failed"
    request_id: str
    hop: int
    duration_us: int
    error_type: str
    message: str
    status: int = 0


@_register
class StreamDelta(Event, frozen=True, kw_only=True, omit_defaults=True):
    """One chunk sent to the client: its ``choices[0].delta`` and finish reason, or usage.

    ``id``, ``created`` and ``model`` are the same for every chunk of a request and live in
    ``request.received`` / ``request.completed``; replay puts them back.
    """

    TYPE: ClassVar[str] = "stream.delta"
    seq: int
    delta: JsonObject = {}
    finish_reason: str | None = None
    usage: JsonObject | None = None


@_register
class ToolInvoked(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "tool.invoked"
    call_id: str
    tool: str
    source: ToolSource
    agent: str
    arguments: str  # JSON text as the model produced it
    request_id: str = ""


@_register
class ToolCompleted(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "tool.completed"
    call_id: str
    tool: str
    source: ToolSource
    agent: str
    duration_us: int
    result: str  # JSON text given to the model, capped
    outcome: ToolOutcome = "ok"
    request_id: str = ""


@_register
class ToolFailed(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "tool.failed"
    call_id: str
    tool: str
    source: ToolSource
    agent: str
    duration_us: int
    outcome: ToolOutcome  # "error" | "denied" | "timeout"
    error_type: str
    message: str  # what the model was told
    request_id: str = ""


@_register
class RequestCompleted(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "request.completed"
    SCHEMA_VERSION: ClassVar[int] = 2  # v2: ``held``
    request_id: str
    created: int  # the completion's `created` (unix seconds)
    model: str
    finish_reason: str
    duration_us: int
    ttft_us: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    message: JsonObject | None = None  # the assembled message of a non-streamed answer
    # An agent answer that ends with the client's tool calls: the messages the gateway kept
    # back (its own tool calls and their results), restored into the conversation when the
    # client sends the results of its calls.
    held: list[JsonObject] | None = None


@_register
class RequestFailed(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "request.failed"
    request_id: str
    status: int
    error_type: str
    code: str
    message: str
    duration_us: int = 0


@_register
class RequestCancelled(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "request.cancelled"
    request_id: str
    reason: str  # "client_disconnected"
    duration_us: int = 0


@_register
class RequestInterrupted(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "request.interrupted"
    request_id: str
    reason: str  # "unfinished_at_startup"


# --- keys ----------------------------------------------------------------------------------


@_register
class KeyIssued(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "key.issued"
    SCHEMA_VERSION: ClassVar[int] = 2  # v2 added ``auditor``
    key_id: str
    name: str
    key_hash: str  # sha256 hex of the secret; the secret itself never enters the log
    agents: list[str] = []
    tools: list[str] = []
    models: list[str] = []
    admin: bool = False
    auditor: bool = False  # reads the log, requests, replays and /audit/*; nothing else


@_register
class KeyRevoked(Event, frozen=True, kw_only=True, omit_defaults=True):
    TYPE: ClassVar[str] = "key.revoked"
    key_id: str


# --- audit ---------------------------------------------------------------------------------


@_register
class CheckpointSigned(Event, frozen=True, kw_only=True, omit_defaults=True):
    """A signed tree head of the log's RFC 9162 Merkle tree (see docs/events.md)."""

    TYPE: ClassVar[str] = "audit.checkpoint_signed"
    tree_size: int  # leaves = events at positions 1..tree_size
    root_hash: str  # lowercase hex of the tree's root at that size
    note: str  # the C2SP tlog-checkpoint signed note


TERMINAL_REQUEST_TYPES: frozenset[str] = frozenset(
    {RequestCompleted.TYPE, RequestFailed.TYPE, RequestCancelled.TYPE, RequestInterrupted.TYPE}
)


def request_stream(request_id: str) -> str:
    """The stream every event of one request shares."""
    return f"request:{request_id}"
