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
import statistics
import time
from pathlib import Path
from typing import Any

from bench.loadgen_procs import ensure_wrk, run_wrk
from bench.rig import (
    CHAT_PATH,
    MASTER_KEY,
    MESSAGES,
    REPO,
    Row,
    Servers,
    alternate,
    gateway_env,
    median,
    save,
    wrk_cell,
)

RUNTIMES = ("worker", "inprocess")
AGENT = '''"""The benchmark's SDK drop-in."""
from agents import Agent

agent = Agent(name="bench-agent", instructions="Answer.", model="bench-model")
'''
BODY = json.dumps({"model": "bench-agent", "messages": MESSAGES, "stream": True}).encode()


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
    report: dict[str, Any] = {"args": vars(args), "loadavg": os.getloadavg(), "cells": []}
    with Servers("ledgergate-bench-workers-") as servers:
        work = servers.work
        (work / "agents" / "bench-agent").mkdir(parents=True)
        (work / "agents" / "bench-agent" / "agent.py").write_text(AGENT)
        _, fake_port = servers.fake_upstream()
        gateways: dict[str, tuple[int, int]] = {}
        for runtime in RUNTIMES:
            env = gateway_env(fake_port, work / f"{runtime}.db")
            env.update(
                LEDGERGATE_AGENTS_DIRS=str(work / "agents"),
                LEDGERGATE_TOOLS_DIRS=str(work / "no-tools"),
                LEDGERGATE_DROPIN_RUNTIME=runtime,
                LEDGERGATE_WATCH_DROPINS="false",
            )
            gw, port = servers.gateway(runtime, env)
            url = f"http://127.0.0.1:{port}{CHAT_PATH}"
            run_wrk(wrk, url, BODY, key=MASTER_KEY, connections=8, seconds=1)  # warm up
            gateways[runtime] = (port, gw.pid)
            report[f"{runtime}_gateway_rss_mb"] = _rss_mb(gw.pid)

        def measure(runtime: str, conns: int) -> Row:
            port, pid = gateways[runtime]
            return wrk_cell(wrk, port, pid, CHAT_PATH, BODY, conns=conns, seconds=args.duration)

        def line(row: Row) -> str:
            return (
                f"{row['rps']:8.1f} req/s  ttfb p50 {row['ttfb_p50_ms']:.2f} ms"
                f"  p50 {row['p50_ms']:.2f} ms  cpu {row['cpu_ms_per_req']:.2f} ms/req"
                f"  errors {row['errors']}"
            )

        by_conns = alternate(
            RUNTIMES,
            args.concurrency,
            args.rounds,
            measure,
            line,
            label="runtime",
            cells=report["cells"],
        )
        summary = [_summary(conns, rows) for conns, rows in by_conns.items()]
        report["summary"] = summary
        servers.stop_all()  # the start cost is measured on a machine without them
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
    print(f"wrote {save(report, 'workers')}")
    return 0


def _summary(conns: int, rows: dict[str, list[Row]]) -> dict[str, Any]:
    worker, inproc = rows["worker"], rows["inprocess"]
    return {
        "concurrency": conns,
        "worker_rps": median(worker, "rps"),
        "inprocess_rps": median(inproc, "rps"),
        "rps_ratio": median(worker, "rps") / median(inproc, "rps"),
        "worker_ttfb_ms": median(worker, "ttfb_p50_ms"),
        "inprocess_ttfb_ms": median(inproc, "ttfb_p50_ms"),
        "ttfb_added_ms": median(worker, "ttfb_p50_ms") - median(inproc, "ttfb_p50_ms"),
        "cpu_ratio": median(worker, "cpu_ms_per_req") / median(inproc, "cpu_ms_per_req"),
    }


if __name__ == "__main__":
    raise SystemExit(main())
