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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.loadgen_procs import (
    BENCH_DIR,
    cpu_seconds,
    ensure_wrk,
    free_port,
    run_wrk,
    settle,
    start,
    stop,
    wait_http,
)
from bench.overhead import CHAT_PATH, MASTER_KEY, MESSAGES, gateway_cmd, gateway_env

REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
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


def cell(
    wrk: str, port: int, pid: int, route: str, *, conns: int, seconds: float
) -> dict[str, Any]:
    path, body = ROUTES[route]
    url = f"http://127.0.0.1:{port}{path}"
    settle(pid)
    cpu0 = cpu_seconds(pid)
    result = run_wrk(wrk, url, body, key=MASTER_KEY, connections=conns, seconds=seconds)
    settle(pid)
    done = max(1, int(result["requests"]))
    errors = sum(int(v) for k, v in result.items() if k.startswith("errors_"))
    samples = loadgen.measure(
        "127.0.0.1", port, path, body=body, key=MASTER_KEY, concurrency=conns, seconds=2.0
    )
    return {
        "rps": done / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "cpu_ms_per_req": (cpu_seconds(pid) - cpu0) * 1000 / done,
        "ttfb_p50_ms": loadgen.percentile_ms(samples.ttfb_ns, 0.5),
        "errors": errors + samples.errors,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.responses", description=__doc__)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per wrk cell")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per concurrency")
    p.add_argument("--concurrency", default="1,32", help="comma-separated client counts")
    args = p.parse_args(argv)
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="ledgergate-bench-responses-"))
    procs: list[subprocess.Popen[bytes]] = []
    report: dict[str, Any] = {"args": vars(args), "cells": [], "summary": []}
    try:
        fake_port = free_port()
        fake_cmd = [sys.executable, "-m", "bench.fake_upstream", "--port", str(fake_port)]
        fake = start(fake_cmd, work / "fake.log", cwd=REPO)
        procs.append(fake)
        wait_http(f"http://127.0.0.1:{fake_port}/v1/models", fake, work / "fake.log")
        gw_port = free_port()
        env = gateway_env(fake_port, work / "ledgergate.db")
        gw = start(gateway_cmd(gw_port), work / "gateway.log", env, REPO)
        procs.append(gw)
        wait_http(f"http://127.0.0.1:{gw_port}/readyz", gw, work / "gateway.log")
        for path, body in ROUTES.values():  # warm both routes
            url = f"http://127.0.0.1:{gw_port}{path}"
            run_wrk(wrk, url, body, key=MASTER_KEY, connections=8, seconds=1)
        for conns in [int(c) for c in args.concurrency.split(",")]:
            rows: dict[str, list[dict[str, Any]]] = {route: [] for route in ROUTES}
            for n in range(args.rounds):
                for route in ROUTES:
                    row = cell(wrk, gw_port, gw.pid, route, conns=conns, seconds=args.duration)
                    rows[route].append(row)
                    report["cells"].append({"route": route, "concurrency": conns, **row})
                    print(
                        f"  round {n + 1} c={conns:<3} {route:9} {row['rps']:8.1f} req/s"
                        f"  p50 {row['p50_ms']:.2f} ms  ttfb {row['ttfb_p50_ms']:.2f} ms"
                        f"  cpu {row['cpu_ms_per_req']:.3f} ms/req  errors {row['errors']}",
                        flush=True,
                    )
            report["summary"].append(_summary(conns, rows))
        print("\nmedians, responses / chat:")
        for s in report["summary"]:
            print(
                f"  c={s['concurrency']:<3} req/s {s['chat_rps']:.1f} vs {s['responses_rps']:.1f}"
                f" (x{s['rps_ratio']:.3f}); p50 x{s['p50_ratio']:.3f};"
                f" cpu/req x{s['cpu_ratio']:.3f}; ttfb x{s['ttfb_ratio']:.3f}"
            )
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"responses-{time.strftime('%Y%m%dT%H%M%S')}.json"
        out.write_text(json.dumps(report, indent=1))
        print(f"wrote {out}")
        return 0
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)


def _summary(conns: int, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def med(route: str, key: str) -> float:
        return statistics.median(r[key] for r in rows[route])

    return {
        "concurrency": conns,
        "chat_rps": med("chat", "rps"),
        "responses_rps": med("responses", "rps"),
        "rps_ratio": med("responses", "rps") / med("chat", "rps"),
        "p50_ratio": med("responses", "p50_ms") / med("chat", "p50_ms"),
        "cpu_ratio": med("responses", "cpu_ms_per_req") / med("chat", "cpu_ms_per_req"),
        "ttfb_ratio": med("responses", "ttfb_p50_ms") / med("chat", "ttfb_p50_ms"),
    }


if __name__ == "__main__":
    raise SystemExit(main())
