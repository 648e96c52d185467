"""PostgreSQL benchmark: the log at 1, 10 and 100 appenders; the gateway on PostgreSQL against
SQLite, non-streamed and streamed at 32 clients, with one node and with two.

Run: ``python -m bench.postgres [--server URL] [--quick] [--duration S]``. ``--server`` names a
PostgreSQL server (default ``$LEDGERGATE_TEST_POSTGRES_URL`` or the local one); each run makes a
fresh database and drops it. Prints Markdown tables and writes the JSON to ``bench/results/``.
Not a test: the machine's other load moves the figures; read the ratios of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from app.adapters.eventstore import open_event_store
from app.ids import new_request_id
from app.settings import Settings
from bench.eventlog import delta_event, percentile
from bench.loadgen_procs import ensure_wrk, free_port, run_wrk, start, stop, wait_http
from bench.overhead import BODIES, CHAT_PATH, MASTER_KEY, REPO, RESULTS, gateway_cmd, gateway_env

APPENDERS = (1, 10, 100)


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    name = f"lgbench_{uuid.uuid4().hex[:12]}"
    admin = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(server).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def log_run(url: str, appenders: int, total: int, awaited: bool) -> dict[str, float]:
    """Like ``bench.eventlog.append_run``, on any store: requests of 50 ``stream.delta``s.

    ``awaited``: each delta is its own append awaited until durable; else the gateway's pattern
    (submitted as they stream, durability awaited once per request: the latency is the flush's).
    """
    store = await open_event_store(Settings(database_url=url))
    latencies: list[float] = []
    per_task = max(total // appenders, 1)
    done = 0

    async def appender() -> None:
        nonlocal done
        for first in range(0, per_task, 50):
            stream = f"request:{new_request_id()}"
            count = min(50, per_task - first)
            if awaited:
                for seq in range(count):
                    t0 = time.perf_counter()
                    await store.append(stream, [delta_event(seq)])
                    latencies.append(time.perf_counter() - t0)
            else:
                futures = [await store.submit(stream, [delta_event(seq)]) for seq in range(count)]
                t0 = time.perf_counter()
                await asyncio.gather(*futures)
                latencies.append(time.perf_counter() - t0)
            done += count

    t0 = time.perf_counter()
    await asyncio.gather(*(appender() for _ in range(appenders)))
    elapsed = time.perf_counter() - t0
    await store.close()
    return {
        "events": done,
        "rate": done / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def log_bench(server: str, work: Path, quick: bool) -> list[dict[str, Any]]:
    rows = []
    scale = 0.2 if quick else 1.0
    for awaited in (False, True):
        for n in APPENDERS:
            total = int((2_000 * n if awaited else 100_000 if n > 1 else 20_000) * scale)
            for backend in ("postgresql", "sqlite"):
                with contextmanager_for(backend, server, work) as url:
                    row = asyncio.run(log_run(url, n, max(total, 50), awaited))
                row |= {"backend": backend, "appenders": n, "pattern": _pattern(awaited)}
                rows.append(row)
                print(
                    f"  log {backend:10} {row['pattern']:18} {n:>3} appenders"
                    f" {row['rate']:>9,.0f} events/s  p50 {row['p50_ms']:.2f} ms"
                    f"  p99 {row['p99_ms']:.2f} ms",
                    flush=True,
                )
    return rows


def _pattern(awaited: bool) -> str:
    return "awaited each" if awaited else "request (50, flush)"


@contextmanager
def contextmanager_for(backend: str, server: str, work: Path) -> Iterator[str]:
    if backend == "postgresql":
        with fresh_database(server) as url:
            yield url
    else:
        path = work / f"log-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite+aiosqlite:///{path}"


def gateway_bench(server: str, work: Path, duration: float) -> list[dict[str, Any]]:
    wrk = ensure_wrk()
    rows: list[dict[str, Any]] = []
    fake_port = free_port()
    fake_cmd = [sys.executable, "-m", "bench.fake_upstream", "--port", str(fake_port)]
    fake = start(fake_cmd, work / "fake.log", cwd=REPO)
    try:
        wait_http(f"http://127.0.0.1:{fake_port}/v1/models", fake, work / "fake.log")
        for backend, nodes in (("sqlite", 1), ("postgresql", 1), ("postgresql", 2)):
            with contextmanager_for(backend, server, work) as url:
                rows += _gateway_cells(
                    wrk, url, backend, nodes, fake_port=fake_port, work=work, duration=duration
                )
    finally:
        stop(fake)
    return rows


def _gateway_cells(
    wrk: str, url: str, backend: str, nodes: int, *, fake_port: int, work: Path, duration: float
) -> list[dict[str, Any]]:
    procs, ports = [], []
    env = gateway_env(fake_port, work / "unused.db") | {"LEDGERGATE_DATABASE_URL": url}
    try:
        for i in range(nodes):
            port = free_port()
            log = work / f"gw-{backend}-{nodes}-{i}.log"
            procs.append(start(gateway_cmd(port), log, env, REPO))
            wait_http(f"http://127.0.0.1:{port}/readyz", procs[-1], log)
            ports.append(port)
        rows = []
        for mode in ("json", "stream"):
            results = _wrk_together(wrk, ports, mode, 2.0)  # warm-up
            results = _wrk_together(wrk, ports, mode, duration)
            requests = sum(r["requests"] for r in results)
            seconds = max(r["duration_us"] for r in results) / 1e6
            errors = sum(int(v) for r in results for k, v in r.items() if k.startswith("errors_"))
            row = {
                "backend": backend,
                "nodes": nodes,
                "mode": mode,
                "rps": requests / seconds,
                "p50_ms": max(r["p50_us"] for r in results) / 1000,
                "p99_ms": max(r["p99_us"] for r in results) / 1000,
                "errors": errors,
            }
            rows.append(row)
            print(
                f"  gateway {backend:10} nodes={nodes} {mode:6} c=32 {row['rps']:8.1f} req/s"
                f"  p50 {row['p50_ms']:.1f} ms  p99 {row['p99_ms']:.1f} ms  errors {errors}",
                flush=True,
            )
        return rows
    finally:
        for proc in procs:
            stop(proc)


def _wrk_together(wrk: str, ports: list[int], mode: str, seconds: float) -> list[dict[str, Any]]:
    """32 connections in all, split evenly over the nodes, measured at the same time."""
    results: list[dict[str, Any]] = []
    conns = 32 // len(ports)

    def one(port: int) -> None:
        url = f"http://127.0.0.1:{port}{CHAT_PATH}"
        body = BODIES[mode]
        results.append(run_wrk(wrk, url, body, key=MASTER_KEY, connections=conns, seconds=seconds))

    threads = [threading.Thread(target=one, args=(p,)) for p in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    default = os.environ.get(
        "LEDGERGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"
    )
    p.add_argument("--server", default=default)
    p.add_argument("--quick", action="store_true", help="a fifth of the log volumes")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per gateway cell")
    p.add_argument("--skip", choices=["log", "gateway"], default=None)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ledgergate-pgbench-"))
    report: dict[str, Any] = {"args": vars(args), "loadavg_at_start": os.getloadavg()}
    try:
        if args.skip != "log":
            print("event log (fresh database per row) …", flush=True)
            report["log"] = log_bench(args.server, work, args.quick)
        if args.skip != "gateway":
            print(f"gateway, c=32 ({args.duration:.0f} s per cell) …", flush=True)
            report["gateway"] = gateway_bench(args.server, work, args.duration)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["loadavg_at_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"postgres-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
