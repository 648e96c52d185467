"""Traffic over time for the console's overview: one point per UTC minute, gaps filled with zeros.

Read from the requests read model's per-minute tables (``rm_request_stats``,
``rm_request_latency``), so it is rebuilt from the log like every other number. A request
counts in the minute of its terminal event.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from projections.checkpoints import read_checkpoints
from projections.db import total
from projections.histogram import percentile_us
from projections.schema import rm_request_latency, rm_request_stats
from projections.views import View

MINUTE_FORMAT = "%Y-%m-%dT%H:%M"  # the read model's bucket keys


class SeriesPoint(View):
    bucket: str  # "YYYY-MM-DDTHH:MM", UTC
    requests: int
    requests_per_s: float  # requests / 60
    errors: int  # failed and interrupted requests
    cancelled: int
    prompt_tokens: int
    completion_tokens: int
    p50_ms: float | None  # latency of completed requests, from the histogram buckets
    p95_ms: float | None


class Series(View):
    bucket_seconds: int
    position: int  # how far the read model had applied the log when this was read
    points: list[SeriesPoint]  # oldest first, one per minute up to ``now``


ERROR_STATUSES = frozenset({"failed", "interrupted"})


async def minutes(engine: AsyncEngine, now: datetime, count: int = 60) -> Series:
    """The last ``count`` minutes up to and including ``now``'s (a naive or aware UTC time)."""
    last = now.replace(second=0, microsecond=0, tzinfo=None)
    keys = [(last - timedelta(minutes=count - 1 - i)).strftime(MINUTE_FORMAT) for i in range(count)]
    first = keys[0]
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    hist: dict[str, dict[int, int]] = defaultdict(dict)
    position = 0
    async with engine.connect() as conn, conn.begin():
        checkpoints = [c for c in await read_checkpoints(conn) if c.state == "live"]
        live = {c.name: c for c in checkpoints}
        if "requests" in live:
            gen, position = live["requests"].generation, live["requests"].position
            s = rm_request_stats.c
            rows = await conn.execute(
                select(
                    s.bucket,
                    s.status,
                    total(s.count),
                    total(s.prompt_tokens),
                    total(s.completion_tokens),
                )
                .where(s.generation == gen, s.bucket >= first)
                .group_by(s.bucket, s.status)
            )
            for bucket, status, n, prompt, completion in rows.all():
                point = sums[bucket]
                point["requests"] += int(n or 0)
                point["prompt_tokens"] += int(prompt or 0)
                point["completion_tokens"] += int(completion or 0)
                if status in ERROR_STATUSES:
                    point["errors"] += int(n or 0)
                elif status == "cancelled":
                    point["cancelled"] += int(n or 0)
            lat = rm_request_latency.c
            latency = await conn.execute(
                select(lat.bucket, lat.le_index, total(lat.count))
                .where(lat.generation == gen, lat.metric == "duration", lat.bucket >= first)
                .group_by(lat.bucket, lat.le_index)
            )
            for bucket, index, n in latency.all():
                hist[bucket][int(index)] = int(n or 0)
    points = []
    for key in keys:
        point = sums.get(key, {})
        counts = hist.get(key, {})
        p50, p95 = percentile_us(counts, 0.5), percentile_us(counts, 0.95)
        points.append(
            SeriesPoint(
                bucket=key,
                requests=point.get("requests", 0),
                requests_per_s=round(point.get("requests", 0) / 60, 4),
                errors=point.get("errors", 0),
                cancelled=point.get("cancelled", 0),
                prompt_tokens=point.get("prompt_tokens", 0),
                completion_tokens=point.get("completion_tokens", 0),
                p50_ms=None if p50 is None else round(p50 / 1000, 3),
                p95_ms=None if p95 is None else round(p95 / 1000, 3),
            )
        )
    return Series(bucket_seconds=60, position=position, points=points)
