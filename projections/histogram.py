"""Fixed log-scale latency buckets: counts per bucket aggregate and rebuild cheaply.

Bounds grow by √2 from 100 µs to about 105 s (41 finite bounds, then +Inf), so a percentile
read back from the counts is within one bucket (≤ 41 % of its value) of the true sample.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping

BOUNDS_US: tuple[int, ...] = tuple(round(100 * 2 ** (k / 2)) for k in range(41))
"""Upper bounds (inclusive, microseconds) of every finite bucket; index len(BOUNDS_US) is +Inf."""
INF_INDEX = len(BOUNDS_US)


def bucket_index(value_us: int) -> int:
    """The index of the first bucket whose upper bound is ≥ ``value_us``."""
    return bisect_left(BOUNDS_US, value_us)


def cumulative(counts: Mapping[int, int]) -> list[tuple[float, int]]:
    """Prometheus-style cumulative buckets ``(upper bound in seconds, count)``, +Inf last."""
    out: list[tuple[float, int]] = []
    running = 0
    for index in range(INF_INDEX + 1):
        running += counts.get(index, 0)
        bound = BOUNDS_US[index] / 1e6 if index < INF_INDEX else float("inf")
        out.append((bound, running))
    return out


def percentile_us(counts: Mapping[int, int], q: float) -> float | None:
    """Estimate the ``q`` quantile (0–1) from bucket counts, interpolating inside the bucket.

    Same estimate as Prometheus's ``histogram_quantile``; None when there are no samples.
    """
    total = sum(counts.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index in sorted(counts):
        count = counts[index]
        if count <= 0:
            continue
        if seen + count >= rank:
            if index >= INF_INDEX:
                return float(BOUNDS_US[-1])
            lower = BOUNDS_US[index - 1] if index > 0 else 0
            upper = BOUNDS_US[index]
            return lower + (upper - lower) * max(rank - seen, 0) / count
        seen += count
    return float(BOUNDS_US[-1])
