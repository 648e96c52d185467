"""``GET /metrics``: Prometheus families built from the read models, not in-process counters.

Counters therefore survive restarts and equal the admin snapshot's numbers. Labels are
bounded: per label kind only the first ``MAX_LABEL_VALUES`` names in log order keep their
name, later ones collapse to ``other``; keys never become labels.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from litestar import get
from litestar.di import NamedDependency
from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from app.api.admin import MinPosition
from app.api.auth import ADMIN
from app.services.projections import ProjectionService
from projections import snapshot
from projections.histogram import cumulative
from projections.queries import ReadModels
from projections.views import ProjectionStatus

MAX_LABEL_VALUES = 50
OTHER = "other"

# name → (type, labels, HELP). docs/metrics.md documents each one (a test checks it).
FAMILIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "ledgergate_requests": (
        "counter",
        ("model", "target", "status"),
        "Finished requests by model (agent or upstream model), target and "
        "terminal status (completed, failed, cancelled, interrupted).",
    ),
    "ledgergate_requests_in_flight": ("gauge", (), "Requests received without a terminal event."),
    "ledgergate_request_duration_seconds": (
        "histogram",
        ("model",),
        "Duration of completed requests, from receipt to the last byte, in seconds.",
    ),
    "ledgergate_request_time_to_first_token_seconds": (
        "histogram",
        ("model",),
        "Time to the first answer chunk of completed requests, in seconds.",
    ),
    "ledgergate_tokens": (
        "counter",
        ("model", "type"),
        "Tokens of finished requests by model; type is prompt or completion.",
    ),
    "ledgergate_tool_calls": (
        "counter",
        ("tool", "agent", "source", "outcome"),
        "Finished tool calls by tool, calling agent, source (gateway or "
        "sdk) and outcome (ok, error, denied, timeout).",
    ),
    "ledgergate_tool_duration_seconds": (
        "histogram",
        ("tool", "source"),
        "Duration of finished tool calls, in seconds.",
    ),
    "ledgergate_dropins": (
        "gauge",
        ("state",),
        "Drop-ins by current state (loaded, failed, unloaded).",
    ),
    "ledgergate_dropin_failed": (
        "gauge",
        ("dropin", "error_type"),
        "1 for each drop-in that is failed now, with its error type.",
    ),
    "ledgergate_dropin_failures": (
        "counter",
        ("error_type",),
        "Drop-in failures seen by discovery scans, by error type.",
    ),
    "ledgergate_discovery_scans": ("counter", (), "Completed discovery scans."),
    "ledgergate_acl_decisions": (
        "counter",
        ("action", "decision", "rule"),
        "ACL decisions by action, decision (allow or deny) and the rule that decided.",
    ),
    "ledgergate_events": ("counter", ("type",), "Events in the log by type."),
    "ledgergate_log_head_position": ("gauge", (), "Position of the last event in the log."),
    "ledgergate_projection_position": (
        "gauge",
        ("projection",),
        "Log position each read model has applied.",
    ),
    "ledgergate_projection_lag_events": (
        "gauge",
        ("projection",),
        "Events each read model is behind the log head.",
    ),
    "ledgergate_projection_last_progress_timestamp_seconds": (
        "gauge",
        ("projection",),
        "Unix time of each read model's last checkpoint commit.",
    ),
}


def _family(name: str) -> Metric:
    kind, labels, doc = FAMILIES[name]
    if kind == "counter":
        return CounterMetricFamily(name, doc, labels=labels)
    if kind == "gauge":
        return GaugeMetricFamily(name, doc, labels=labels)
    return HistogramMetricFamily(name, doc, labels=labels)


class _Labeler:
    """Collapses names beyond the first ``MAX_LABEL_VALUES`` of their kind to ``other``."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.allowed = {kind: set(values[:MAX_LABEL_VALUES]) for kind, values in names.items()}

    def __call__(self, kind: str, value: str) -> str:
        return value if value in self.allowed.get(kind, ()) else OTHER


def _unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _go(value: float) -> str:
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _histograms(
    family: Metric, series: dict[tuple[str, ...], dict[int, int]], sums: dict[tuple[str, ...], int]
) -> None:
    assert isinstance(family, HistogramMetricFamily)
    for labels in sorted(series):
        buckets = [(_go(b), float(n)) for b, n in cumulative(series[labels])]
        family.add_metric(list(labels), buckets, sums.get(labels, 0) / 1e6)


def families(m: ReadModels, head: int, projections: Iterable[ProjectionStatus]) -> list[Metric]:
    """Every family, built from one read of the read models."""
    label = _Labeler(m.names)
    out = {name: _family(name) for name in FAMILIES}
    add: defaultdict[tuple[str, tuple[str, ...]], float] = defaultdict(
        float
    )  # (family, labels) → value, summed after collapsing to "other"
    for model, target, status, count, dur, ttft, _n, p_tok, c_tok in m.req_by_model:
        model_l = label("model", model)
        add[("ledgergate_requests", (model_l, target, status))] += count
        add[("ledgergate_tokens", (model_l, "prompt"))] += p_tok
        add[("ledgergate_tokens", (model_l, "completion"))] += c_tok
        if status == "completed":
            add[("sum:duration", (model_l,))] += dur
            add[("sum:ttft", (model_l,))] += ttft
    hist: dict[str, dict[tuple[str, ...], dict[int, int]]] = defaultdict(dict)
    for model, metric, le, count in m.req_latency:
        series = hist[metric].setdefault((label("model", model),), {})
        series[le] = series.get(le, 0) + count
    for tool, agent, source, _calls, ok, errors, denials, timeouts, dur in m.tools:
        key: tuple[str, ...] = (label("tool", tool), label("agent", agent), source)
        for outcome, n in (
            ("ok", ok),
            ("error", errors),
            ("denied", denials),
            ("timeout", timeouts),
        ):
            add[("ledgergate_tool_calls", (*key, outcome))] += n
        add[("sum:tool", (key[0], source))] += dur
    for tool, _agent, source, le, count in m.tool_latency:
        series = hist["tool"].setdefault((label("tool", tool), source), {})
        series[le] = series.get(le, 0) + count
    for row in m.dropins:
        add[("ledgergate_dropins", (row.state,))] += 1
        if row.state == "failed":
            key = (label("dropin", row.name), label("error_type", row.error_type or ""))
            add[("ledgergate_dropin_failed", key)] = 1
    for error_type, count in m.dropin_failures:
        add[("ledgergate_dropin_failures", (label("error_type", error_type),))] += count
    if m.discovery is not None:
        add[("ledgergate_discovery_scans", ())] += m.discovery.scans_completed
    for action, rule, decision, count in m.acl_rules:
        key = (label("action", action), decision, label("rule", rule))
        add[("ledgergate_acl_decisions", key)] += count
    for event_type, count, _pos, _at in m.log_types:
        add[("ledgergate_events", (event_type,))] += count
    add[("ledgergate_requests_in_flight", ())] = m.in_flight
    add[("ledgergate_log_head_position", ())] = head
    for p in projections:
        add[("ledgergate_projection_position", (p.name,))] = p.position
        add[("ledgergate_projection_lag_events", (p.name,))] = p.lag
        add[("ledgergate_projection_last_progress_timestamp_seconds", (p.name,))] = _unix(
            p.updated_at
        )
    for (name, labels), value in sorted(add.items()):
        if name in out:
            out[name].add_metric(list(labels), value)  # type: ignore[attr-defined]
    sums = {
        k: {lab: int(v) for (n, lab), v in add.items() if n == k}
        for k in ("sum:duration", "sum:ttft", "sum:tool")
    }
    _histograms(out["ledgergate_request_duration_seconds"], hist["duration"], sums["sum:duration"])
    _histograms(
        out["ledgergate_request_time_to_first_token_seconds"], hist["ttft"], sums["sum:ttft"]
    )
    _histograms(out["ledgergate_tool_duration_seconds"], hist["tool"], sums["sum:tool"])
    return list(out.values())


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics)


def registry_of(metrics: list[Metric]) -> CollectorRegistry:
    """A one-shot registry holding ``metrics`` (a custom collector over the read models)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(metrics))
    return registry


@get("/metrics", media_type="text/plain; version=0.0.4", guards=ADMIN)  # Litestar adds the charset
async def metrics(
    projections: NamedDependency[ProjectionService], min_position: MinPosition = None
) -> bytes:
    """The Prometheus text exposition (admin key only)."""
    await projections.settle(min_position)
    models, head = await asyncio.gather(projections.read(), projections.store.head())
    statuses = snapshot.statuses(models, head, projections.runner)
    return bytes(generate_latest(registry_of(families(models, head, statuses))))


ROUTES = [metrics]
