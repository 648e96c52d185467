"""SDK drop-ins in worker processes against in the gateway's own process: the cost of isolation.

Run: ``python -m bench.workers [--duration 5] [--rounds 3] [--concurrency 1,32]``.

Two gateways side by side (as ``bench.overhead`` starts one: one uvicorn worker, SQLite log,
synchronous=FULL, projections on), both in front of ``bench/fake_upstream.py`` (35 chunks per
streamed answer), both serving the same one-agent SDK drop-in (``bench-agent``: an ``Agent``
with no tools on ``bench-model``): one with ``LEDGERGATE_DROPIN_RUNTIME=worker`` (the default),
one with ``inprocess``. Cells alternate (worker, in-process, worker, …) so drift on a shared
machine hits both alike; per concurrency the medians and their ratios are the figures: requests
per second (wrk), time to first byte (``bench.loadgen``), CPU per request of each gateway's whole
process tree (workers and probe server included). Then the start cost and memory of workers:
``--starts`` workers forked from a warm probe server for the fixture drop-in ``minimal``, the
time from the fork request to the worker's "ready", and each worker's RSS, PSS and private
memory (``/proc/<pid>/smaps_rollup``: what forking from the probe server shares), and the
round trip of one frame to a worker's event loop and back (a request's first byte crosses the
boundary twice that way: the run and its model call out, the upstream's first event and the
first delta back). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
RUNTIMES = ("worker", "inprocess")
AGENT = '''"""The benchmark's SDK drop-in."""
from agents import Agent

agent = Agent(name="bench-agent", instructions="Answer.", model="bench-model")
'''
BODY = json.dumps({"model": "bench-agent", "messages": MESSAGES, "stream": True}).encode()


def cell(wrk: str, port: int, pid: int, *, conns: int, seconds: float) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}{CHAT_PATH}"
    settle(pid)
    cpu0 = cpu_seconds(pid)
    result = run_wrk(wrk, url, BODY, key=MASTER_KEY, connections=conns, seconds=seconds)
    settle(pid)
    done = max(1, int(result["requests"]))
    errors = sum(int(v) for k, v in result.items() if k.startswith("errors_"))
    cpu = (cpu_seconds(pid) - cpu0) * 1000 / done
    samples = loadgen.measure(
        "127.0.0.1", port, CHAT_PATH, body=BODY, key=MASTER_KEY, concurrency=conns, seconds=2.0
    )
    return {
        "rps": done / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "cpu_ms_per_req": cpu,
        "ttfb_p50_ms": loadgen.percentile_ms(samples.ttfb_ns, 0.5),
        "ttfb_p99_ms": loadgen.percentile_ms(samples.ttfb_ns, 0.99),
        "errors": errors + samples.errors,
    }


def _rss_mb(pid: int) -> float:
    """VmRSS of the gateway's own process (not its probe server or workers)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _smaps(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
            out[key] = int(rest.split()[0]) / 1024
    return {
        "rss_mb": out["Rss"],
        "pss_mb": out["Pss"],
        "private_mb": out["Private_Clean"] + out["Private_Dirty"],
    }


async def starts(n: int) -> dict[str, Any]:
    """Fork ``n`` workers for the fixture drop-in ``minimal``; start time and memory of each."""
    from app.adapters.workers.protocol import ProbeRequest
    from app.adapters.workers.supervisor import Timing, spawn

    folder = REPO / "tests" / "fixtures" / "dropins" / "good" / "minimal"
    request = ProbeRequest(
        kind="worker",
        name="minimal",
        path=str(folder / "agent.py"),
        folder=str(folder),
        cwd=os.getcwd(),
        env=dict(os.environ),
        memory_limit_mb=2048,
        gateway_tools=[],
    )
    timing = Timing(import_timeout_s=60.0, ping_interval_s=60.0, hang_timeout_s=60.0)
    t = time.perf_counter()
    first, _ = await spawn(request, timing)  # starts the probe server (a cold interpreter)
    cold_ms = (time.perf_counter() - t) * 1000
    conns, times = [first], []
    for _ in range(n):
        t = time.perf_counter()
        conn, _ = await spawn(request, timing)
        times.append((time.perf_counter() - t) * 1000)
        conns.append(conn)
    memory = [_smaps(c.pid) for c in conns[1:]]
    # The process boundary's own latency: a frame to the worker's event loop and back.
    rtts = []
    for _ in range(500):
        t = time.perf_counter()
        await first.ping(10.0)
        rtts.append((time.perf_counter() - t) * 1e6)
    for conn in conns:
        await conn.close()
    return {
        "cold_first_ms": cold_ms,
        "start_ms_median": statistics.median(times),
        "start_ms_max": max(times),
        "rtt_us_median": statistics.median(rtts),
        "rtt_us_p99": sorted(rtts)[int(len(rtts) * 0.99)],
        **{k: statistics.median(m[k] for m in memory) for k in memory[0]},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per wrk cell")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per concurrency")
    p.add_argument("--concurrency", default="1,32", help="comma-separated client counts")
    p.add_argument("--starts", type=int, default=8, help="workers forked for the start cost")
    p.add_argument("--only-starts", action="store_true", help="skip the load cells")
    args = p.parse_args(argv)
    if args.only_starts:
        print(json.dumps(asyncio.run(starts(args.starts)), indent=1))
        return 0
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="ledgergate-bench-workers-"))
    procs: list[subprocess.Popen[bytes]] = []
    report: dict[str, Any] = {"args": vars(args), "loadavg": os.getloadavg(), "cells": []}
    try:
        (work / "agents" / "bench-agent").mkdir(parents=True)
        (work / "agents" / "bench-agent" / "agent.py").write_text(AGENT)
        fake_port = free_port()
        fake_cmd = [sys.executable, "-m", "bench.fake_upstream", "--port", str(fake_port)]
        fake = start(fake_cmd, work / "fake.log", cwd=REPO)
        procs.append(fake)
        wait_http(f"http://127.0.0.1:{fake_port}/v1/models", fake, work / "fake.log")
        gateways: dict[str, tuple[int, int]] = {}
        for runtime in RUNTIMES:
            port = free_port()
            env = gateway_env(fake_port, work / f"{runtime}.db")
            env.update(
                LEDGERGATE_AGENTS_DIRS=str(work / "agents"),
                LEDGERGATE_TOOLS_DIRS=str(work / "no-tools"),
                LEDGERGATE_DROPIN_RUNTIME=runtime,
                LEDGERGATE_WATCH_DROPINS="false",
            )
            log = work / f"{runtime}.log"
            gw = start(gateway_cmd(port), log, env, REPO)
            procs.append(gw)
            wait_http(f"http://127.0.0.1:{port}/readyz", gw, log)
            run_wrk(
                wrk,
                f"http://127.0.0.1:{port}{CHAT_PATH}",
                BODY,
                key=MASTER_KEY,
                connections=8,
                seconds=1,
            )  # warm up
            gateways[runtime] = (port, gw.pid)
            report[f"{runtime}_gateway_rss_mb"] = _rss_mb(gw.pid)
        summary = []
        for conns in [int(c) for c in args.concurrency.split(",")]:
            rows: dict[str, list[dict[str, Any]]] = {r: [] for r in RUNTIMES}
            for n in range(args.rounds):
                for runtime in RUNTIMES:
                    port, pid = gateways[runtime]
                    row = cell(wrk, port, pid, conns=conns, seconds=args.duration)
                    rows[runtime].append(row)
                    report["cells"].append({"runtime": runtime, "concurrency": conns, **row})
                    print(
                        f"  round {n + 1} c={conns:<3} {runtime:9} {row['rps']:8.1f} req/s"
                        f"  ttfb p50 {row['ttfb_p50_ms']:.2f} ms  p50 {row['p50_ms']:.2f} ms"
                        f"  cpu {row['cpu_ms_per_req']:.2f} ms/req  errors {row['errors']}",
                        flush=True,
                    )
            summary.append(_summary(conns, rows))
        report["summary"] = summary
        for proc in procs:
            stop(proc)
        procs = []
        report["starts"] = asyncio.run(starts(args.starts))
        print("\nmedians, worker vs in-process:")
        for s in summary:
            print(
                f"  c={s['concurrency']:<3} req/s {s['worker_rps']:.1f} vs {s['inprocess_rps']:.1f}"
                f" ({s['rps_ratio'] * 100:.0f} %); ttfb p50 {s['worker_ttfb_ms']:.2f} vs"
                f" {s['inprocess_ttfb_ms']:.2f} ms ({s['ttfb_added_ms']:+.2f} ms);"
                f" cpu/req x{s['cpu_ratio']:.2f}"
            )
        print(
            f"gateway process RSS after warm-up: worker {report['worker_gateway_rss_mb']:.0f} MB,"
            f" in-process {report['inprocess_gateway_rss_mb']:.0f} MB"
        )
        st = report["starts"]
        print(
            f"worker start (fork + import + ready): median {st['start_ms_median']:.0f} ms,"
            f" max {st['start_ms_max']:.0f} ms (first, with the probe server's cold start:"
            f" {st['cold_first_ms']:.0f} ms); per worker RSS {st['rss_mb']:.0f} MB,"
            f" PSS {st['pss_mb']:.0f} MB, private {st['private_mb']:.0f} MB; frame round trip"
            f" to a worker: median {st['rtt_us_median']:.0f} µs, p99 {st['rtt_us_p99']:.0f} µs"
        )
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"workers-{time.strftime('%Y%m%dT%H%M%S')}.json"
        out.write_text(json.dumps(report, indent=1))
        print(f"wrote {out}")
        return 0
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)


def _summary(conns: int, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def med(runtime: str, key: str) -> float:
        return statistics.median(r[key] for r in rows[runtime])

    return {
        "concurrency": conns,
        "worker_rps": med("worker", "rps"),
        "inprocess_rps": med("inprocess", "rps"),
        "rps_ratio": med("worker", "rps") / med("inprocess", "rps"),
        "worker_ttfb_ms": med("worker", "ttfb_p50_ms"),
        "inprocess_ttfb_ms": med("inprocess", "ttfb_p50_ms"),
        "ttfb_added_ms": med("worker", "ttfb_p50_ms") - med("inprocess", "ttfb_p50_ms"),
        "cpu_ratio": med("worker", "cpu_ms_per_req") / med("inprocess", "cpu_ms_per_req"),
    }


if __name__ == "__main__":
    raise SystemExit(main())
