"""Tables for the overhead benchmark: raw figures per cell, ratios against direct, the targets."""

from __future__ import annotations

import math
from typing import Any

Row = dict[str, Any]

# (name, row key, mode, concurrency, bound, "max" or "min", unit); "added" keys subtract direct.
TARGETS = (
    ("non-streamed added p50, c=1", "added_p50_ms", "json", 1, 1.0, "max", "ms"),
    ("non-streamed requests/s, c=32", "rps", "json", 32, 1500.0, "min", "req/s"),
    ("streamed requests/s, c=32", "rps", "stream", 32, 400.0, "min", "req/s"),
    ("streamed added TTFB p50, c=1", "added_ttfb_p50_ms", "stream", 1, 2.0, "max", "ms"),
)
PEAK_RSS_MB = 150.0


def _find(rows: list[Row], target: str, mode: str, conns: int) -> Row | None:
    for row in rows:
        if (row["target"], row["mode"], row["concurrency"]) == (target, mode, conns):
            return row
    return None


def _nan(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def compare(rows: list[Row], name: str) -> list[Row]:
    """``name`` against direct, per (mode, concurrency): ratios and added milliseconds."""
    out = []
    for row in rows:
        if row["target"] != name:
            continue
        direct = _find(rows, "direct", row["mode"], row["concurrency"])
        if direct is None:
            continue
        out.append(
            {
                "target": name,
                "mode": row["mode"],
                "concurrency": row["concurrency"],
                "rps": row["rps"],
                "rps_ratio": row["rps"] / direct["rps"],
                "added_p50_ms": row["p50_ms"] - direct["p50_ms"],
                "p50_ratio": row["p50_ms"] / max(direct["p50_ms"], 1e-3),
                "added_p99_ms": row["p99_ms"] - direct["p99_ms"],
                "added_ttfb_p50_ms": _nan(row.get("ttfb_p50_ms")) - _nan(direct.get("ttfb_p50_ms")),
                "cpu_ms_per_req": row["cpu_ms_per_req"],
                "peak_rss_mb": row["peak_rss_mb"],
            }
        )
    return out


def targets_summary(rows: list[Row]) -> dict[str, Any]:
    """Every gateway (one per transport) against direct, and against the issue's targets."""
    gateways = list(dict.fromkeys(r["target"] for r in rows if r.get("transport")))
    compared: list[Row] = []
    checks = []
    for gw in gateways:
        gateway = compare(rows, gw)
        compared += gateway
        transport = next(r["transport"] for r in rows if r["target"] == gw)
        for name, key, mode, conns, bound, kind, unit in TARGETS:
            found = next(
                (r for r in gateway if (r["mode"], r["concurrency"]) == (mode, conns)), None
            )
            if found is None:
                continue
            value = float(found[key])
            met = value <= bound if kind == "max" else value >= bound
            label = f"{name} ({transport})"
            checks.append(_check(label, value, bound=bound, kind=kind, unit=unit, met=met))
        peak = max(r["peak_rss_mb"] for r in rows if r["target"] == gw)
        ok = peak <= PEAK_RSS_MB
        label = f"peak RSS ({transport})"
        checks.append(_check(label, peak, bound=PEAK_RSS_MB, kind="max", unit="MB", met=ok))
    return {"gateway": compared, "litellm": compare(rows, "litellm"), "targets": checks}


def _check(name: str, value: float, *, bound: float, kind: str, unit: str, met: bool) -> Row:
    # How far off, as a factor of the bound: 2.0 means twice the allowed latency / half the rate.
    factor = value / bound if kind == "max" else bound / max(value, 1e-9)
    sign = "≤" if kind == "max" else "≥"
    return {
        "name": name,
        "value": value,
        "target": f"{sign} {bound:g} {unit}",
        "met": met,
        "miss_factor": None if met else round(factor, 2),
    }


def _f(value: Any, digits: int = 2) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "–"
    return f"{value:,.{digits}f}"


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"\nmachine: {m['nproc']} × {m['cpu']}, Python {m['python']}, SQLite {m['sqlite']}")
    if "soak" in report:
        s = report["soak"]
        print(
            f"soak {s['seconds']:.0f} s: {s['rps']:.0f} req/s; RSS first {s['rss_first_mb']:.1f}"
            f" MB, max {s['rss_max_mb']:.1f} MB, last {s['rss_last_mb']:.1f} MB, growth after"
            f" the first minute {s['growth_after_first_minute_mb']:+.1f} MB"
            f" (anonymous memory {s.get('anon_growth_after_first_minute_mb', 0.0):+.1f} MB)"
        )
    rows = report.get("rows", [])
    if rows:
        print(
            "\n| target | upstream transport | mode | c | req/s | p50 ms | p99 ms | TTFB p50 ms"
            " | TTFB p99 ms | CPU ms/req | peak RSS MB | errors |"
        )
        print("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for r in rows:
            print(
                f"| {r['target']} | {r.get('transport') or '–'} | {r['mode']} | {r['concurrency']}"
                f" | {_f(r['rps'], 0)}"
                f" | {_f(r['p50_ms'])} | {_f(r['p99_ms'])} | {_f(r.get('ttfb_p50_ms'))}"
                f" | {_f(r.get('ttfb_p99_ms'))} | {_f(r['cpu_ms_per_req'], 3)}"
                f" | {_f(r['peak_rss_mb'], 0)} | {r['errors']} |"
            )
    summary = report.get("summary")
    if summary:
        print(
            "\n| vs direct | mode | c | req/s ratio | added p50 ms | p50 × | added p99 ms"
            " | added TTFB p50 ms |"
        )
        print("|---|---|--:|--:|--:|--:|--:|--:|")
        for r in summary["gateway"] + summary["litellm"]:
            print(
                f"| {r['target']} | {r['mode']} | {r['concurrency']} | {_f(r['rps_ratio'], 3)}"
                f" | {_f(r['added_p50_ms'])} | {_f(r['p50_ratio'], 1)} | {_f(r['added_p99_ms'])}"
                f" | {_f(r['added_ttfb_p50_ms'])} |"
            )
        print("\n| target | measured | bound | met |")
        print("|---|--:|--:|---|")
        for t in summary["targets"]:
            miss = "yes" if t["met"] else f"no (×{t['miss_factor']})"
            print(f"| {t['name']} | {_f(t['value'])} | {t['target']} | {miss} |")
    for name, log in report.get("log", {}).items():
        print(
            f"\n{name} log: {sum(log['by_type'].values()):,} events, "
            f"{log['deltas_per_streamed_request']:.1f} stream.delta per streamed request, "
            f"{log['db_bytes'] / 1e6:.1f} MB on disk"
        )
