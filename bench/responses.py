"""Streamed Responses API overhead against streamed chat completions, on the same fake upstream.

Run: ``python -m bench.responses [--duration 5] [--rounds 3] [--concurrency 1,32]``.
One gateway (as ``bench.overhead`` starts it: one worker, SQLite log, synchronous=FULL,
projections on) in front of ``bench/fake_upstream.py``, which streams 35 chunks per answer.
Both routes produce the same answer and the same 35 ``stream.delta`` events per request; the
Responses route frames it as typed events (``response.created`` … ``response.completed``).
Cells alternate (chat, responses, chat, responses, …) so drift on a shared machine hits both
alike; the ratio of medians is the figure. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from bench.loadgen_procs import ensure_wrk, run_wrk
from bench.rig import (
    CHAT_PATH,
    MASTER_KEY,
    MESSAGES,
    Row,
    Servers,
    alternate,
    gateway_env,
    median,
    save,
    wrk_cell,
)

ROUTES = {
    "chat": (
        CHAT_PATH,
        json.dumps({"model": "bench-model", "messages": MESSAGES, "stream": True}).encode(),
    ),
    "responses": (
        "/v1/responses",
        json.dumps(
            {"model": "bench-model", "input": MESSAGES[0]["content"], "stream": True}
        ).encode(),
    ),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.responses", description=__doc__)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per wrk cell")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per concurrency")
    p.add_argument("--concurrency", default="1,32", help="comma-separated client counts")
    args = p.parse_args(argv)
    wrk = ensure_wrk()
    report: dict[str, Any] = {"args": vars(args), "loadavg": os.getloadavg(), "cells": []}
    with Servers("ledgergate-bench-responses-") as servers:
        _, fake_port = servers.fake_upstream()
        gw, gw_port = servers.gateway(
            "gateway", gateway_env(fake_port, servers.work / "ledgergate.db")
        )
        for path, body in ROUTES.values():  # warm both routes
            url = f"http://127.0.0.1:{gw_port}{path}"
            run_wrk(wrk, url, body, key=MASTER_KEY, connections=8, seconds=1)

        def measure(route: str, conns: int) -> Row:
            path, body = ROUTES[route]
            return wrk_cell(wrk, gw_port, gw.pid, path, body, conns=conns, seconds=args.duration)

        def line(row: Row) -> str:
            return (
                f"{row['rps']:8.1f} req/s  p50 {row['p50_ms']:.2f} ms"
                f"  ttfb {row['ttfb_p50_ms']:.2f} ms  cpu {row['cpu_ms_per_req']:.3f} ms/req"
                f"  errors {row['errors']}"
            )

        by_conns = alternate(
            list(ROUTES),
            args.concurrency,
            args.rounds,
            measure,
            line,
            label="route",
            cells=report["cells"],
        )
    report["summary"] = [_summary(conns, rows) for conns, rows in by_conns.items()]
    print("\nmedians, responses / chat:")
    for s in report["summary"]:
        print(
            f"  c={s['concurrency']:<3} req/s {s['chat_rps']:.1f} vs {s['responses_rps']:.1f}"
            f" (x{s['rps_ratio']:.3f}); p50 x{s['p50_ratio']:.3f};"
            f" cpu/req x{s['cpu_ratio']:.3f}; ttfb x{s['ttfb_ratio']:.3f}"
        )
    print(f"wrote {save(report, 'responses')}")
    return 0


def _summary(conns: int, rows: dict[str, list[Row]]) -> dict[str, Any]:
    chat, responses = rows["chat"], rows["responses"]

    def ratio(key: str) -> float:
        return median(responses, key) / median(chat, key)

    return {
        "concurrency": conns,
        "chat_rps": median(chat, "rps"),
        "responses_rps": median(responses, "rps"),
        "rps_ratio": ratio("rps"),
        "p50_ratio": ratio("p50_ms"),
        "cpu_ratio": ratio("cpu_ms_per_req"),
        "ttfb_ratio": ratio("ttfb_p50_ms"),
    }


if __name__ == "__main__":
    raise SystemExit(main())
