"""Idle memory of a passthrough-only gateway, after start-up and after load.

Run: ``python -m bench.memory [--load-seconds 5] [--gateway-env KEY=VALUE]``. Starts
``bench/fake_upstream.py`` and ``ledgergate serve`` (one worker, empty drop-in and tool roots,
so the Agents SDK is never imported; upstream = the fake; SQLite log, ``synchronous=FULL``,
projections on). Prints the process's RSS 3 s after ``/readyz`` answers, then 5 s after
``--load-seconds`` of non-streamed and as many of streamed load at c=32 (wrk), with its peak
(VmHWM) and the split into anonymous and file-backed pages. The bound of issue 13 (≤ 100 MB
idle) is printed beside each. JSON to ``bench/results/memory-<timestamp>.json``. RSS depends
on the machine and the libraries installed, so this is a benchmark, not a test
(``tests/harness/test_lazy_sdk.py`` checks which heavy packages stay out).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from bench.loadgen_procs import ensure_wrk, memory_mb, run_wrk
from bench.rig import BODIES, CHAT_PATH, MASTER_KEY, Servers, gateway_env, save

BOUND_MB = 100.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    p.add_argument("--load-seconds", type=float, default=5.0, help="seconds of each load")
    p.add_argument("--idle-seconds", type=float, default=5.0, help="wait after load before RSS")
    p.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra gateway setting, e.g. LEDGERGATE_UPSTREAM_TRANSPORT=fast (repeatable)",
    )
    return p.parse_args(argv)


def _line(label: str, mem: dict[str, float]) -> str:
    verdict = "within" if mem["rss_mb"] <= BOUND_MB else "over"
    return (
        f"{label:18} RSS {mem['rss_mb']:6.1f} MB ({verdict} {BOUND_MB:.0f} MB)"
        f"  anon {mem['rss_anon_mb']:5.1f}  file {mem['rss_file_mb']:5.1f}"
        f"  peak {mem['peak_rss_mb']:6.1f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    report: dict[str, Any] = {"args": vars(args), "loadavg_at_start": os.getloadavg()}
    with Servers("ledgergate-memory-") as servers:
        _, fake_port = servers.fake_upstream()
        for root in ("agents", "tools"):
            (servers.work / root).mkdir()
        env = gateway_env(fake_port, servers.work / "ledgergate.db")
        env["LEDGERGATE_AGENTS_DIRS"] = str(servers.work / "agents")
        env["LEDGERGATE_TOOLS_DIRS"] = str(servers.work / "tools")
        env.update(item.split("=", 1) for item in args.gateway_env if "=" in item)
        gw, port = servers.gateway("gateway", env)
        time.sleep(3)  # the method's own delay: start-up work (scan, projections) ends
        report["idle_after_start"] = memory_mb(gw.pid)
        print(_line("idle after start", report["idle_after_start"]), flush=True)
        url = f"http://127.0.0.1:{port}{CHAT_PATH}"
        report["load"] = {}
        for mode in ("json", "stream"):
            result = run_wrk(
                wrk, url, BODIES[mode], key=MASTER_KEY, connections=32, seconds=args.load_seconds
            )
            report["load"][mode] = {"requests": result["requests"]}
            print(f"  load {mode:6} c=32: {int(result['requests'])} requests", flush=True)
        time.sleep(args.idle_seconds)  # the method's own delay: idle after load
        report["idle_after_load"] = memory_mb(gw.pid)
        print(_line("idle after load", report["idle_after_load"]), flush=True)
    report["loadavg_at_end"] = os.getloadavg()
    print(f"load average at start / end: {report['loadavg_at_start']} / {os.getloadavg()}")
    print(f"results: {save(report, 'memory')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
