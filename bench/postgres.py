"""PostgreSQL benchmark: the log at 1, 10 and 100 appenders; the gateway on PostgreSQL against
SQLite, non-streamed and streamed at 32 clients, with one node and with two.

Run: ``python -m bench.postgres [--server URL] [--quick] [--duration S]``. ``--server`` names a
PostgreSQL server (default ``$LEDGERGATE_TEST_POSTGRES_URL`` or the local one); each run makes a
fresh database and drops it. Prints Markdown tables and writes the JSON to ``bench/results/``.
Not a test: the machine's other load moves the figures. The gateway matrix runs in rounds
(``--rounds``, ``bench.postgres_gateway``): read the medians and the per-round ratios.

A/B of the log against another commit: ``python -m bench.postgres --baseline REF
[--current REF] [--rounds 5] [--appenders 100] [--pattern request]``. Each round runs every
selected log row once for this tree (or ``--current``) and once for ``REF`` (checked out into
temporary git worktrees, run with the same venv), in alternating order, each in its own process
and fresh database; prints the medians, their ratio and the load average. Besides events/s,
every row reports CPU per event of the appending process and of the database's server backends
(from ``/proc``; the server's WAL writer and checkpointer are not included), which move less
with the machine's other load than rates do.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from app.adapters.eventstore import open_event_store
from app.ids import new_request_id
from app.settings import Settings
from bench.eventlog import delta_event, percentile
from bench.loadgen_procs import ensure_wrk
from bench.rig import REPO, Servers, save

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
    freeze_like_the_gateway()
    backends = server_backends(url)
    server_cpu0, cpu0 = backends_cpu(backends), process_cpu()
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
    cpu, server_cpu = process_cpu() - cpu0, backends_cpu(backends) - server_cpu0
    await store.close()
    return {
        "events": done,
        "rate": done / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "client_cpu_us": cpu / done * 1e6,
        "server_cpu_us": server_cpu / done * 1e6,
    }


def freeze_like_the_gateway() -> None:
    """What the gateway does once started (``app/heap.py``), if this tree's gateway does it: an
    A/B against a commit from before it measures that commit as its gateway ran."""
    if importlib.util.find_spec("app.heap") is not None:
        importlib.import_module("app.heap").freeze_startup_heap()


def process_cpu() -> float:
    t = os.times()
    return t.user + t.system


def server_backends(url: str) -> list[int]:
    """Process ids of the server backends connected to ``url``'s database (none for SQLite)."""
    if not url.startswith("postgresql"):
        return []
    info = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(info, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def backends_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (0 for a process that is gone or not readable)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def log_total(appenders: int, awaited: bool, quick: bool) -> int:
    total = 2_000 * appenders if awaited else 100_000 if appenders > 1 else 20_000
    return max(int(total * (0.2 if quick else 1.0)), 50)


def log_bench(server: str, work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for awaited, n, backend in log_cells(args):
        rows.append(log_row(server, work, backend, n, awaited, quick=args.quick))
        print_row(rows[-1])
    return rows


def log_cells(args: argparse.Namespace) -> list[tuple[bool, int, str]]:
    patterns = {"request": [False], "awaited": [True], "both": [False, True]}[args.pattern]
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    appenders = args.appenders or list(APPENDERS)
    return [(a, n, b) for a in patterns for n in appenders for b in backends]


def log_row(
    server: str, work: Path, backend: str, appenders: int, awaited: bool, *, quick: bool
) -> dict[str, Any]:
    total = log_total(appenders, awaited, quick)
    with contextmanager_for(backend, server, work) as url:
        row = asyncio.run(log_run(url, appenders, total, awaited))
    return row | {"backend": backend, "appenders": appenders, "pattern": _pattern(awaited)}


def print_row(row: dict[str, Any], prefix: str = "") -> None:
    print(
        f"  {prefix}log {row['backend']:10} {row['pattern']:19} {row['appenders']:>3} appenders"
        f" {row['rate']:>9,.0f} events/s  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms"
        f"  CPU/event {row['client_cpu_us']:.1f} µs client, {row['server_cpu_us']:.1f} µs server",
        flush=True,
    )


def ab_bench(server: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """This tree against ``args.baseline``: every log cell, both trees, alternating, per round."""
    sha = _worktree(args.baseline, work / "baseline")
    variants = [("baseline", work / "baseline"), ("current", REPO)]
    if args.current:  # a commit too, so that editing the tree meanwhile changes nothing
        _worktree(args.current, work / "current")
        variants[1] = ("current", work / "current")
    runs: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds or 5):
            for awaited, n, backend in log_cells(args):
                order = variants if r % 2 == 0 else variants[::-1]
                for name, root in order:
                    row = _child_row(root, server, backend, n, awaited, quick=args.quick)
                    row |= {"variant": name, "round": r + 1, "loadavg": os.getloadavg()[0]}
                    runs.append(row)
                    print_row(row, prefix=f"round {r + 1} {name:8} load {row['loadavg']:.1f} ")
    finally:
        for _, tree in variants:
            if tree != REPO:
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                    capture_output=True, check=False,
                )  # fmt: skip
    current = args.current or "this tree"
    print(f"\nmedians over {args.rounds or 5} rounds, baseline {sha} against {current}:")
    print(
        "| appenders | pattern | backend | events/s base → current | ratio"
        " | client CPU µs/event | server CPU µs/event |"
    )
    print("|---:|---|---|---:|---:|---:|---:|")
    summary = []
    for awaited, n, backend in log_cells(args):
        cell = [x for x in runs if x["appenders"] == n and x["pattern"] == _pattern(awaited)
                and x["backend"] == backend]  # fmt: skip
        med = {
            name: {k: statistics.median(x[k] for x in cell if x["variant"] == name)
                   for k in ("rate", "p50_ms", "p99_ms", "client_cpu_us", "server_cpu_us")}
            for name, _ in variants
        }  # fmt: skip
        b, c = med["baseline"], med["current"]
        summary.append({"appenders": n, "pattern": _pattern(awaited), "backend": backend} | med)
        print(
            f"| {n} | {_pattern(awaited)} | {backend} | {b['rate']:,.0f} → {c['rate']:,.0f}"
            f" | ×{c['rate'] / b['rate']:.2f} | {b['client_cpu_us']:.1f} → {c['client_cpu_us']:.1f}"
            f" | {b['server_cpu_us']:.1f} → {c['server_cpu_us']:.1f} |"
        )
    return {"baseline": sha, "runs": runs, "summary": summary}


def _worktree(ref: str, into: Path) -> str:
    """Check ``ref`` out into ``into`` (a detached git worktree); its short commit id."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", ref],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(into), sha],
        capture_output=True, check=True,
    )  # fmt: skip
    return sha


def _child_row(
    root: Path, server: str, backend: str, appenders: int, awaited: bool, *, quick: bool
) -> dict[str, Any]:
    """One log row in a fresh process importing ``app`` from ``root`` (this file's code)."""
    args = [
        "--server",
        server,
        "--one-row",
        f"{backend}:{appenders}:{'awaited' if awaited else 'request'}",
    ]
    if quick:
        args.append("--quick")
    # ``-c`` puts the working directory (``root``) first on sys.path; this file runs as-is.
    code = "import runpy, sys; sys.argv[1:] = %r; runpy.run_path(%r, run_name='__main__')"
    cmd = [sys.executable, "-c", code % (args, str(Path(__file__).resolve()))]
    env = os.environ | {"PYTHONPATH": str(root)}
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=True)
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


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


def gateway_bench(server: str, args: argparse.Namespace) -> dict[str, Any]:
    """The gateway matrix in rounds (``bench.postgres_gateway``); prints the Markdown tables."""
    # Imported here: an A/B child runs this file against an older tree's ``bench`` package.
    from bench.postgres_gateway import CONFIGS, gateway_rounds, summary

    wrk = ensure_wrk()
    freezes = {"on": [True], "off": [False], "both": [True, False]}[args.freeze]
    with Servers("ledgergate-pgbench-gw-") as servers, ExitStack() as databases:
        _, fake_port = servers.fake_upstream()
        urls = [
            databases.enter_context(contextmanager_for(CONFIGS[name][0], server, servers.work))
            for name in args.configs
            for _ in freezes
        ]
        rows = gateway_rounds(
            wrk, servers, iter(urls), configs=args.configs, freezes=freezes,
            rounds=args.rounds or 3, seconds=args.duration, fake_port=fake_port,
        )  # fmt: skip
        servers.stop_all()  # before their databases are dropped
    table, figures = summary(rows)
    print("\n" + table)
    return {"rows": rows, "summary": figures, "table": table}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    default = os.environ.get(
        "LEDGERGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"
    )
    p.add_argument("--server", default=default)
    p.add_argument("--quick", action="store_true", help="a fifth of the log volumes")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per gateway cell")
    p.add_argument("--skip", choices=["log", "gateway"], default=None)
    p.add_argument("--appenders", type=int, action="append", help="log rows: appenders (repeat)")
    p.add_argument("--pattern", choices=["request", "awaited", "both"], default="both")
    p.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    p.add_argument("--baseline", help="A/B of the log: this tree against this git commit")
    p.add_argument("--current", help="A/B: this commit instead of the working tree")
    p.add_argument(
        "--rounds", type=int, help="rounds of the log A/B (default 5) or of the gateway (3)"
    )
    p.add_argument(
        "--configs", type=lambda v: v.split(","), default=["sqlite", "pg1", "pg2"],
        help="gateway configurations, comma-separated: sqlite,pg1,pg2",
    )  # fmt: skip
    p.add_argument(
        "--freeze", choices=["on", "off", "both"], default="on",
        help="gateway: with the start-up heap freeze (app/heap.py), without, or both",
    )  # fmt: skip
    p.add_argument("--one-row", help=argparse.SUPPRESS)  # BACKEND:APPENDERS:PATTERN, for A/B
    args = p.parse_args(argv)
    if args.one_row:
        backend, n, pattern = args.one_row.split(":")
        with tempfile.TemporaryDirectory(prefix="ledgergate-pgbench-") as tmp:
            row = log_row(
                args.server, Path(tmp), backend, int(n), pattern == "awaited", quick=args.quick
            )
        print(json.dumps(row | {"app": str(Path(open_event_store.__code__.co_filename).parent)}))
        return 0
    work = Path(tempfile.mkdtemp(prefix="ledgergate-pgbench-"))
    report: dict[str, Any] = {"args": vars(args), "loadavg_at_start": os.getloadavg()}
    try:
        if args.baseline:
            print(f"event log, this tree against {args.baseline} …", flush=True)
            report["ab"] = ab_bench(args.server, work, args)
        elif args.skip != "log":
            print("event log (fresh database per row) …", flush=True)
            report["log"] = log_bench(args.server, work, args)
        if args.skip != "gateway" and not args.baseline:
            print(f"gateway, c=32 ({args.duration:.0f} s per cell, in rounds) …", flush=True)
            report["gateway"] = gateway_bench(args.server, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["loadavg_at_end"] = os.getloadavg()
    print(f"wrote {save(report, 'postgres')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
