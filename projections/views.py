"""Response types of the read side (msgspec Structs, so the admin API's OpenAPI schema is exact).

Durations are milliseconds (``_ms``) and times RFC 3339 text; counts are plain integers.
"""

from __future__ import annotations

import msgspec


class View(msgspec.Struct, kw_only=True):
    """Base of every read-side response type."""


class Quantiles(View):
    """Latency estimated from log-scale histogram buckets (see docs/metrics.md)."""

    count: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None


class ModelRequests(View):
    model: str
    target: str
    requests: int
    by_status: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    duration: Quantiles
    ttft: Quantiles


class KeyRequests(View):
    key_id: str
    requests: int
    failed: int
    prompt_tokens: int
    completion_tokens: int


class MinuteRequests(View):
    bucket: str  # "YYYY-MM-DDTHH:MM", UTC
    requests: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    duration: Quantiles


class RequestsSummary(View):
    total: int
    in_flight: int
    by_status: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    duration: Quantiles
    ttft: Quantiles
    by_model: list[ModelRequests]
    by_key: list[KeyRequests]
    per_minute: list[MinuteRequests]  # the last 60 minutes that saw a finished request


class ToolStats(View):
    tool: str
    agent: str
    source: str  # "gateway" | "sdk" | "hosted"
    calls: int
    ok: int
    errors: int
    denials: int
    timeouts: int
    duration: Quantiles


class ToolTotals(View):
    tool: str
    calls: int
    ok: int
    errors: int
    denials: int
    timeouts: int
    by_source: dict[str, int]
    by_agent: dict[str, int]


class ToolsReport(View):
    totals: list[ToolTotals]
    breakdown: list[ToolStats]


class Dropin(View):
    name: str
    path: str
    kind: str
    state: str  # "loaded" | "failed" | "unloaded"
    entrypoint: str | None
    tools: list[str]
    error_type: str | None
    message: str | None
    remediation: str | None
    first_seen_at: str | None
    last_seen_at: str
    loaded_at: str | None
    first_failed_at: str | None
    last_failed_at: str | None
    failure_count: int
    load_count: int


class Scan(View):
    scan_id: str | None
    reason: str | None
    started_at: str | None
    completed_at: str | None
    loaded: int | None
    failed: int | None
    unloaded: int | None
    unchanged: int | None
    duration_ms: float | None
    scans_started: int
    scans_completed: int


class DiscoverySummary(View):
    last_scan: Scan | None
    loaded: int
    failed: int
    agents: list[str]
    failed_dropins: list[Dropin]
    failures_by_type: dict[str, int]


class DropinsReport(View):
    last_scan: Scan | None
    dropins: list[Dropin]


class AclRule(View):
    action: str
    rule: str
    decision: str
    count: int


class AclKey(View):
    key_id: str
    allow: int
    deny: int


class AclResource(View):
    action: str
    resource: str
    allow: int
    deny: int


class AclSummary(View):
    allow: int
    deny: int
    by_rule: list[AclRule]
    by_key: list[AclKey]
    by_resource: list[AclResource]


class LogSummary(View):
    head: int
    events: int  # events the log model has counted (== head when lag is 0)
    by_type: dict[str, int]
    last_recorded_at: str | None


class ProjectionStatus(View):
    name: str
    generation: int
    state: str
    position: int
    head: int
    lag: int
    updated_at: str
    running: bool | None = None  # None when asked from outside the serving process
    error: str | None = None


class MetricsSnapshot(View):
    generated_at: str
    log: LogSummary
    projections: list[ProjectionStatus]
    requests: RequestsSummary
    tools: ToolsReport
    discovery: DiscoverySummary
    acl: AclSummary


class RequestSummary(View):
    request_id: str
    position: int  # the position of its request.received: the paging cursor
    key_id: str
    model: str
    target: str
    stream: bool
    status: str
    received_at: str
    finished_at: str | None
    duration_ms: float
    ttft_ms: float
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    error_type: str
    http_status: int
    deltas: int
    upstream_calls: int
    tool_calls: int
    acl_denials: int


class RequestsPage(View):
    requests: list[RequestSummary]
    next_before: int | None  # pass as ``before`` for the next (older) page
