"""Shape ``ReadModels`` rows into the admin API's documented response types."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from projections.checkpoints import now
from projections.histogram import percentile_us
from projections.queries import ReadModels
from projections.views import (
    AclKey,
    AclResource,
    AclRule,
    AclSummary,
    DiscoverySummary,
    Dropin,
    DropinsReport,
    KeyRequests,
    LogSummary,
    MetricsSnapshot,
    MinuteRequests,
    ModelRequests,
    ProjectionStatus,
    Quantiles,
    RequestsSummary,
    RequestSummary,
    Scan,
    ToolsReport,
    ToolStats,
    ToolTotals,
)

TOP_MODELS = 50
"""``requests.by_model`` lists at most this many (model, target) groups, the last one ``other``."""
OTHER = "other"


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000, 3)


def quantiles(counts: Mapping[int, int], total_us: int | None = None) -> Quantiles:
    n = sum(counts.values())
    mean = None if total_us is None or n == 0 else total_us / n
    return Quantiles(
        count=n,
        p50_ms=_ms(percentile_us(counts, 0.5)),
        p90_ms=_ms(percentile_us(counts, 0.9)),
        p99_ms=_ms(percentile_us(counts, 0.99)),
        mean_ms=_ms(mean),
    )


def statuses(models: ReadModels, head: int, runner: Any = None) -> list[ProjectionStatus]:
    """Position, head and lag of each live projection (``runner`` adds running/error)."""
    out = []
    for c in models.checkpoints:
        if c.state != "live":
            continue
        out.append(
            ProjectionStatus(
                name=c.name,
                generation=c.generation,
                state=c.state,
                position=c.position,
                head=head,
                lag=max(head - c.position, 0),
                updated_at=c.updated_at,
                running=None if runner is None else bool(runner.running),
                error=None if runner is None else runner.error,
            )
        )
    return out


def requests_summary(m: ReadModels) -> RequestsSummary:
    by_status: dict[str, int] = defaultdict(int)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    prompt = completion = 0
    completed_us = 0
    for model, target, status, count, dur, _ttft, _ttft_n, p_tok, c_tok in m.req_by_model:
        by_status[status] += count
        prompt += p_tok
        completion += c_tok
        g = groups.setdefault((model, target), {"by_status": {}, "p": 0, "c": 0, "us": 0})
        g["by_status"][status] = count
        g["p"] += p_tok
        g["c"] += c_tok
        if status == "completed":
            g["us"] += dur
            g["ttft_us"] = _ttft
            completed_us += dur
    hist: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for model, metric, le, count in m.req_latency:
        hist[(model, metric)][le] = count
    all_dur = _merge(h for (_, metric), h in hist.items() if metric == "duration")
    all_ttft = _merge(h for (_, metric), h in hist.items() if metric == "ttft")
    ttft_us = sum(r[5] for r in m.req_by_model if r[2] == "completed")
    by_model = [
        ModelRequests(
            model=model,
            target=target,
            requests=sum(g["by_status"].values()),
            by_status=g["by_status"],
            prompt_tokens=g["p"],
            completion_tokens=g["c"],
            duration=quantiles(hist.get((model, "duration"), {}), g["us"]),
            ttft=quantiles(hist.get((model, "ttft"), {}), g.get("ttft_us", 0)),
        )
        for (model, target), g in _top_models(groups, hist).items()
    ]
    keys: dict[str, list[int]] = {}
    for key_id, status, count, p_tok, c_tok in m.req_by_key:
        k = keys.setdefault(key_id, [0, 0, 0, 0])
        k[0] += count
        k[1] += count if status == "failed" else 0
        k[2] += p_tok
        k[3] += c_tok
    minutes: dict[str, list[int]] = {}
    for bucket, status, count, p_tok, c_tok in m.req_minutes:
        b = minutes.setdefault(bucket, [0, 0, 0, 0])
        b[0] += count
        b[1] += count if status == "failed" else 0
        b[2] += p_tok
        b[3] += c_tok
    minute_hist: dict[str, dict[int, int]] = defaultdict(dict)
    for bucket, le, count in m.req_minute_latency:
        minute_hist[bucket][le] = count
    return RequestsSummary(
        total=sum(by_status.values()),
        in_flight=m.in_flight,
        by_status=dict(by_status),
        prompt_tokens=prompt,
        completion_tokens=completion,
        duration=quantiles(all_dur, completed_us),
        ttft=quantiles(all_ttft, ttft_us),
        by_model=by_model,
        by_key=[
            KeyRequests(
                key_id=k, requests=v[0], failed=v[1], prompt_tokens=v[2], completion_tokens=v[3]
            )
            for k, v in keys.items()
        ],
        per_minute=[
            MinuteRequests(
                bucket=b,
                requests=v[0],
                failed=v[1],
                prompt_tokens=v[2],
                completion_tokens=v[3],
                duration=quantiles(minute_hist.get(b, {})),
            )
            for b, v in sorted(minutes.items())
        ],
    )


def _top_models(
    groups: dict[tuple[str, str], dict[str, Any]],
    hist: dict[tuple[str, str], dict[int, int]],
) -> dict[tuple[str, str], dict[str, Any]]:
    """The ``TOP_MODELS`` busiest (model, target) groups, the rest summed as ``other``.

    Clients choose model names, so the snapshot must not grow with each one they invent.
    """
    if len(groups) <= TOP_MODELS:
        return groups
    ranked = sorted(groups.items(), key=lambda kv: (-sum(kv[1]["by_status"].values()), kv[0]))
    kept = dict(ranked[: TOP_MODELS - 1])
    rest: dict[str, Any] = {"by_status": defaultdict(int), "p": 0, "c": 0, "us": 0, "ttft_us": 0}
    for (model, _target), g in ranked[TOP_MODELS - 1 :]:
        for status, count in g["by_status"].items():
            rest["by_status"][status] += count
        for field in ("p", "c", "us", "ttft_us"):
            rest[field] += g.get(field, 0)
        for metric in ("duration", "ttft"):
            merged = _merge([hist.get((OTHER, metric), {}), hist.get((model, metric), {})])
            hist[(OTHER, metric)] = merged
    rest["by_status"] = dict(rest["by_status"])
    kept[(OTHER, OTHER)] = rest
    return kept


def _merge(parts: Iterable[Mapping[int, int]]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for part in parts:
        for le, count in part.items():
            out[le] += count
    return dict(out)


def tools_report(
    m: ReadModels, tool: str | None = None, agent: str | None = None, source: str | None = None
) -> ToolsReport:
    hist: dict[tuple[str, str, str], dict[int, int]] = defaultdict(dict)
    for t, a, s, le, count in m.tool_latency:
        hist[(t, a, s)][le] = count
    breakdown = []
    totals: dict[str, ToolTotals] = {}
    for t, a, s, calls, ok, errors, denials, timeouts, dur in m.tools:
        if (tool and t != tool) or (agent and a != agent) or (source and s != source):
            continue
        breakdown.append(
            ToolStats(
                tool=t,
                agent=a,
                source=s,
                calls=calls,
                ok=ok,
                errors=errors,
                denials=denials,
                timeouts=timeouts,
                duration=quantiles(hist.get((t, a, s), {}), dur),
            )
        )
        tot = totals.get(t)
        if tot is None:
            tot = totals[t] = ToolTotals(
                tool=t, calls=0, ok=0, errors=0, denials=0, timeouts=0, by_source={}, by_agent={}
            )
        tot.calls += calls
        tot.ok += ok
        tot.errors += errors
        tot.denials += denials
        tot.timeouts += timeouts
        tot.by_source[s] = tot.by_source.get(s, 0) + calls
        tot.by_agent[a] = tot.by_agent.get(a, 0) + calls
    return ToolsReport(totals=list(totals.values()), breakdown=breakdown)


def _dropin(row: Any) -> Dropin:
    return Dropin(
        name=row.name,
        path=row.path,
        kind=row.kind,
        state=row.state,
        entrypoint=row.entrypoint,
        tools=msgspec.json.decode(row.tools) if row.tools else [],
        error_type=row.error_type,
        message=row.message,
        remediation=row.remediation,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        loaded_at=row.loaded_at,
        first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at,
        failure_count=row.failure_count,
        load_count=row.load_count,
    )


def _scan(m: ReadModels) -> Scan | None:
    d = m.discovery
    if d is None:
        return None
    return Scan(
        scan_id=d.last_scan_id,
        reason=d.last_reason,
        started_at=d.last_started_at,
        completed_at=d.last_completed_at,
        loaded=d.last_loaded,
        failed=d.last_failed,
        unloaded=d.last_unloaded,
        unchanged=d.last_unchanged,
        duration_ms=_ms(d.last_duration_us),
        scans_started=d.scans_started,
        scans_completed=d.scans_completed,
    )


def dropins_report(m: ReadModels, state: str | None = None) -> DropinsReport:
    rows = [_dropin(r) for r in m.dropins if state is None or r.state == state]
    return DropinsReport(last_scan=_scan(m), dropins=rows)


def discovery_summary(m: ReadModels) -> DiscoverySummary:
    dropins = [_dropin(r) for r in m.dropins]
    return DiscoverySummary(
        last_scan=_scan(m),
        loaded=sum(d.state == "loaded" for d in dropins),
        failed=sum(d.state == "failed" for d in dropins),
        agents=sorted(d.name for d in dropins if d.state == "loaded"),
        failed_dropins=[d for d in dropins if d.state == "failed"],
        failures_by_type={t: n for t, n in m.dropin_failures},
    )


def acl_summary(m: ReadModels) -> AclSummary:
    keys: dict[str, AclKey] = {}
    for key_id, decision, n in m.acl_keys:
        k = keys.setdefault(key_id, AclKey(key_id=key_id, allow=0, deny=0))
        setattr(k, decision, getattr(k, decision) + n)
    resources: dict[tuple[str, str], AclResource] = {}
    for action, resource, decision, n in m.acl_resources:
        r = resources.setdefault(
            (action, resource), AclResource(action=action, resource=resource, allow=0, deny=0)
        )
        setattr(r, decision, getattr(r, decision) + n)
    return AclSummary(
        allow=sum(n for *_, d, n in m.acl_rules if d == "allow"),
        deny=sum(n for *_, d, n in m.acl_rules if d == "deny"),
        by_rule=[AclRule(action=a, rule=r, decision=d, count=n) for a, r, d, n in m.acl_rules],
        by_key=list(keys.values()),
        by_resource=list(resources.values()),
    )


def log_summary(m: ReadModels, head: int) -> LogSummary:
    last = max(m.log_types, key=lambda r: r[2], default=None)
    return LogSummary(
        head=head,
        events=sum(r[1] for r in m.log_types),
        by_type={r[0]: r[1] for r in m.log_types},
        last_recorded_at=None if last is None else last[3],
    )


def metrics_snapshot(m: ReadModels, head: int, runner: Any = None) -> MetricsSnapshot:
    """The whole admin snapshot (``GET /admin/metrics``)."""
    return MetricsSnapshot(
        generated_at=now(),
        log=log_summary(m, head),
        projections=statuses(m, head, runner),
        requests=requests_summary(m),
        tools=tools_report(m),
        discovery=discovery_summary(m),
        acl=acl_summary(m),
    )


def request_summary(row: Any) -> RequestSummary:
    return RequestSummary(
        request_id=row.request_id,
        position=row.first_position,
        key_id=row.key_id,
        model=row.model,
        target=row.target,
        stream=bool(row.stream),
        status=row.status,
        received_at=row.received_at,
        finished_at=row.finished_at,
        duration_ms=row.duration_us / 1000,
        ttft_ms=row.ttft_us / 1000,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        finish_reason=row.finish_reason,
        error_type=row.error_type,
        http_status=row.http_status,
        deltas=row.deltas,
        upstream_calls=row.upstream_calls,
        tool_calls=row.tool_calls,
        acl_denials=row.acl_denials,
    )
