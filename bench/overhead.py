"""Gateway overhead benchmark: the same load sent straight to a fake upstream and through
Ledgergate (one worker, SQLite log, synchronous=FULL), optionally through LiteLLM too.

Run: ``python -m bench.overhead [--duration 8] [--litellm] [--soak 300]`` (or ``make bench``).
One gateway per upstream transport (``--transports stock,fast``: the default, then
``LEDGERGATE_UPSTREAM_TRANSPORT=fast``), each row naming its transport.
Measures, per target × (non-streamed, streamed) × concurrency (1, 32): requests/s and p50/p99
latency (wrk), time to first byte for streams (``bench.loadgen``), CPU per request and peak RSS
(``/proc``). Prints tables with ratios against direct and writes JSON to ``bench/results/``.
A benchmark, not a test: the figures depend on the machine and whatever else runs on it.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.loadgen_procs import (
    cpu_seconds,
    ensure_wrk,
    free_port,
    memory_mb,
    run_wrk,
    settle,
    start,
    stop,
    thread_cpu,
)
from bench.loadgen_report import print_report, targets_summary
from bench.rig import BODIES, CHAT_PATH, MASTER_KEY, REPO, Servers, gateway_env, save

LITELLM_VENV = Path("/tmp/ledgergate-litellm-venv")
LITELLM_KEY = "sk-bench-" + secrets.token_urlsafe(24)


@dataclass
class Target:
    name: str
    port: int
    pid: int
    key: str | None
    transport: str = ""  # a gateway's LEDGERGATE_UPSTREAM_TRANSPORT; "" for the others


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "",
        "loadavg_at_start": os.getloadavg(),
    }


def start_litellm(
    fake_port: int, servers: Servers
) -> tuple[subprocess.Popen[bytes], int, str] | None:
    """LiteLLM's proxy on the same fake upstream, from a separate venv; None if it will not
    install or start (its absence never fails the run)."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        print(f"installing litellm[proxy] into {LITELLM_VENV} …", flush=True)
        steps = [
            [sys.executable, "-m", "venv", str(LITELLM_VENV)],
            [str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet", "litellm[proxy]"],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=900)
            if done.returncode != 0:
                print(f"LiteLLM skipped: {' '.join(step)} failed:\n{done.stderr[-800:]}")
                return None
    config = servers.work / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: bench-model\n    litellm_params:\n"
        f"      model: openai/bench-model\n      api_base: http://127.0.0.1:{fake_port}/v1\n"
        "      api_key: bench\n"
        # A master key, no database: LiteLLM checks every request's key, as our gateway does.
        f"general_settings:\n  master_key: {LITELLM_KEY}\n"
    )
    port = free_port()
    cmd = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--num_workers", "1"]
    proc = servers.start(cmd, "litellm", {**os.environ, "LITELLM_LOG": "ERROR"})
    try:
        servers.ready(proc, "litellm", f"http://127.0.0.1:{port}/health/liveliness", timeout=120)
    except RuntimeError as exc:
        print(f"LiteLLM skipped: {exc}")
        stop(proc)
        return None
    return proc, port, LITELLM_KEY


def measure_cell(
    wrk: str, target: Target, fake_pid: int, *, mode: str, conns: int, args: argparse.Namespace
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{target.port}{CHAT_PATH}"
    body = BODIES[mode]
    run_wrk(
        wrk, url, body, key=target.key, connections=conns, seconds=args.warmup
    )  # warm pools and caches
    settle(target.pid)
    cpu0, fake0 = cpu_seconds(target.pid), cpu_seconds(fake_pid)
    threads0 = thread_cpu(target.pid)
    result = run_wrk(wrk, url, body, key=target.key, connections=conns, seconds=args.duration)
    settle(target.pid)
    cpu1, fake1 = cpu_seconds(target.pid), cpu_seconds(fake_pid)
    threads1 = thread_cpu(target.pid)
    done = max(1, int(result["requests"]))
    errors = sum(int(v) for k, v in result.items() if k.startswith("errors_"))
    row: dict[str, Any] = {
        "target": target.name,
        "transport": target.transport,
        "mode": mode,
        "concurrency": conns,
        "requests": done,
        "rps": done / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p90_ms": result["p90_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "errors": errors,
        "cpu_ms_per_req": (cpu1 - cpu0) * 1000 / done,
        "upstream_cpu_ms_per_req": (fake1 - fake0) * 1000 / done,
        "thread_cpu_ms_per_req": {
            name: round((spent - threads0.get(name, 0.0)) * 1000 / done, 4)
            for name, spent in threads1.items()
            if spent - threads0.get(name, 0.0) > 0
        },
        **memory_mb(target.pid),
    }
    if mode == "stream":
        samples = loadgen.measure(
            "127.0.0.1",
            target.port,
            CHAT_PATH,
            body=body,
            key=target.key,
            concurrency=conns,
            seconds=args.ttfb_seconds,
        )
        row["ttfb_p50_ms"] = loadgen.percentile_ms(samples.ttfb_ns, 0.5)
        row["ttfb_p99_ms"] = loadgen.percentile_ms(samples.ttfb_ns, 0.99)
        row["ttfb_total_p50_ms"] = loadgen.percentile_ms(samples.total_ns, 0.5)
        row["ttfb_samples"] = len(samples.ttfb_ns)
        row["errors"] += samples.errors
        row.update({f"after_ttfb_{k}": v for k, v in memory_mb(target.pid).items()})
    print(
        f"  {target.name:13} {target.transport or '-':5} {mode:6} c={conns:<3}"
        f" {row['rps']:9.1f} req/s  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms"
        f"  cpu {row['cpu_ms_per_req']:.3f} ms/req"
        f"  peak {row['peak_rss_mb']:.0f} MB  errors {row['errors']}",
        flush=True,
    )
    if len(row["thread_cpu_ms_per_req"]) > 1:
        split = ", ".join(f"{k} {v:.3f}" for k, v in row["thread_cpu_ms_per_req"].items())
        print(f"      CPU ms/req by thread: {split}", flush=True)
    return row


def log_counts(db: Path) -> dict[str, Any]:
    """Events per type in the gateway's log, and stream.delta events per streamed request."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        by_type = dict(
            conn.execute(
                "SELECT t.name, count(*) FROM events e JOIN event_types t USING (type_id)"
                " GROUP BY t.name"
            ).fetchall()
        )
        streamed = conn.execute(
            "SELECT count(*) FROM events e JOIN event_types t USING (type_id)"
            " WHERE t.name = 'request.received' AND instr(e.data, '\"stream\":true') > 0"
        ).fetchone()[0]
    finally:
        conn.close()
    deltas = by_type.get("stream.delta", 0)
    return {
        "by_type": by_type,
        "streamed_requests": streamed,
        "deltas_per_streamed_request": deltas / streamed if streamed else 0.0,
        "db_bytes": db.stat().st_size
        + sum(p.stat().st_size for p in db.parent.glob(db.name + "-*") if p.exists()),
    }


def run_soak(wrk: str, gateway: Target, seconds: float) -> dict[str, Any]:
    """Mixed load (16 non-streamed + 16 streamed clients) for ``seconds``, RSS every 10 s."""
    from concurrent.futures import ThreadPoolExecutor

    url = f"http://127.0.0.1:{gateway.port}{CHAT_PATH}"
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        jobs = [
            pool.submit(
                run_wrk, wrk, url, BODIES[mode], key=gateway.key, connections=16, seconds=seconds
            )
            for mode in ("json", "stream")
        ]
        while not all(job.done() for job in jobs):
            time.sleep(10)  # the sampling period itself
            sample = {"t_s": round(time.monotonic() - started), **memory_mb(gateway.pid)}
            samples.append(sample)
            print(
                f"  soak t={sample['t_s']:4.0f} s  rss {sample['rss_mb']:.1f} MB"
                f" (anon {sample['rss_anon_mb']:.1f}, file {sample['rss_file_mb']:.1f})",
                flush=True,
            )
        results = [job.result() for job in jobs]
    rss = [s["rss_mb"] for s in samples]
    after_first_minute = [s["rss_mb"] for s in samples if s["t_s"] >= 60] or rss
    return {
        "seconds": seconds,
        "samples": samples,
        "requests": sum(r["requests"] for r in results),
        "rps": sum(r["requests"] / (r["duration_us"] / 1e6) for r in results),
        "rss_first_mb": rss[0] if rss else 0.0,
        "rss_last_mb": rss[-1] if rss else 0.0,
        "rss_max_mb": max(rss, default=0.0),
        "growth_after_first_minute_mb": after_first_minute[-1] - after_first_minute[0],
        "anon_growth_after_first_minute_mb": _growth(samples, "rss_anon_mb"),
    }


def _growth(samples: list[dict[str, float]], key: str) -> float:
    later = [s[key] for s in samples if s["t_s"] >= 60] or [s[key] for s in samples] or [0.0]
    return later[-1] - later[0]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__)
    p.add_argument("--duration", type=float, default=8.0, help="seconds measured per cell")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per cell")
    p.add_argument("--ttfb-seconds", type=float, default=3.0, help="seconds of TTFB sampling")
    p.add_argument("--concurrency", default="1,32", help="comma-separated client counts")
    p.add_argument("--modes", default="json,stream", help="json (non-streamed), stream")
    p.add_argument("--chunk-gap-ms", type=float, default=0.0, help="fake upstream chunk gap")
    p.add_argument("--litellm", action="store_true", help="also measure LiteLLM (separate venv)")
    p.add_argument(
        "--transports",
        default="stock,fast",
        help="LEDGERGATE_UPSTREAM_TRANSPORT of each gateway measured, one gateway each;"
        " the first is named gateway, the others gateway-<transport>",
    )
    p.add_argument(
        "--soak", type=float, default=0.0, help="only a soak of N seconds, RSS every 10 s"
    )
    p.add_argument("--profile", metavar="FILE", help="py-spy raw profile of the gateway cells")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    p.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra gateway setting, e.g. LEDGERGATE_RUN_PROJECTIONS=false (repeatable)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    report: dict[str, Any] = {"machine": machine(), "args": vars(args), "rows": []}
    with Servers("ledgergate-bench-", keep=args.keep) as servers:
        try:
            return _run(args, wrk, servers, report)
        except BaseException:
            servers.keep = True  # the logs say what went wrong
            raise


def _run(args: argparse.Namespace, wrk: str, servers: Servers, report: dict[str, Any]) -> int:
    fake, fake_port = servers.fake_upstream("--chunk-gap-ms", str(args.chunk_gap_ms))
    targets = [Target("direct", fake_port, fake.pid, None)]
    dbs: dict[str, Path] = {}
    report["gateway_idle"] = {}
    for i, asked in enumerate(args.transports.split(",")):
        name = "gateway" if i == 0 else f"gateway-{asked}"
        dbs[name] = servers.work / f"{name}.db"
        env = gateway_env(fake_port, dbs[name])
        env["LEDGERGATE_UPSTREAM_TRANSPORT"] = asked
        env.update(item.split("=", 1) for item in args.gateway_env if "=" in item)
        gw, gw_port = servers.gateway(name, env)
        report["gateway_idle"][name] = memory_mb(gw.pid)
        transport = env["LEDGERGATE_UPSTREAM_TRANSPORT"]  # unless --gateway-env set it
        targets.append(Target(name, gw_port, gw.pid, MASTER_KEY, transport))
        if args.soak:  # the first gateway only
            report["soak"] = run_soak(wrk, targets[1], args.soak)
            report["log"] = {name: log_counts(dbs[name])}
            return _finish(report, "soak")
        rss = report["gateway_idle"][name]["rss_mb"]
        print(f"{name} ({transport} transport): {rss:.0f} MB RSS idle after start-up")
    if args.litellm:
        started = start_litellm(fake_port, servers)
        if started is not None:
            targets.append(Target("litellm", started[1], started[0].pid, started[2]))
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    print(f"measuring ({args.duration:.0f} s per cell, warm-up {args.warmup:.0f} s) …")
    report["log"] = {}
    for target in targets:
        profiler = (
            _start_profiler(args.profile, target, servers.work)
            if target.name == "gateway"
            else None
        )
        for mode in args.modes.split(","):
            for conns in concurrencies:
                row = measure_cell(wrk, target, fake.pid, mode=mode, conns=conns, args=args)
                _check_alive(servers)
                report["rows"].append(row)
        if profiler is not None:
            stop_profiler(profiler)
        if target.name in dbs:
            settle(target.pid)
            report["log"][target.name] = log_counts(dbs[target.name])
    report["summary"] = targets_summary(report["rows"])
    return _finish(report, "overhead")


def _check_alive(servers: Servers) -> None:
    """A server that died mid-run makes every later figure meaningless: stop, say where."""
    for proc in servers.procs:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited ({proc.returncode}); logs in {servers.work}")


def _start_profiler(out: str | None, target: Target, work: Path) -> subprocess.Popen[bytes] | None:
    if not out:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    cmd = [str(spy), "record", "--pid", str(target.pid), "--format", "raw", "-r", "250", "--gil"]
    cmd += ["-o", str(Path(out).resolve())]
    return start(cmd, work / "py-spy.log")


def stop_profiler(proc: subprocess.Popen[bytes]) -> None:
    """py-spy writes its file on SIGINT."""
    import signal

    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)


def _finish(report: dict[str, Any], kind: str) -> int:
    print_report(report)
    print(f"\nresults: {save(report, kind).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
