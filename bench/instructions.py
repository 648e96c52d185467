"""Instructions per request of the gateway, counted by valgrind's callgrind: a figure that the
machine's other load does not move, for comparing two commits where requests/s cannot.

Run: ``python -m bench.instructions --baseline 6fcde8e [--requests 300] [--concurrency 1]``.
One fake upstream; then, one after the other, a gateway per variant (``baseline``: the commit,
checked out into a temporary git worktree and run with this venv; ``current``: this tree; each
``--variant NAME=KEY=VALUE``: this tree with one more setting) under
``valgrind --tool=callgrind --instr-atstart=no``, so start-up runs uncounted. Per mode
(non-streamed, streamed): a warm-up, then counting switched on, a fixed number of requests sent
(keep-alive connections, each one request at a time), the gateway left to go idle (projections
catch up, the writer drains: their work counts), counting switched off and the total read.
Every thread of the gateway's process counts; its drop-in worker processes do not.
The idle gateway's own background work (timers, leases) is counted first over ``--idle``
seconds and its rate times each cell's duration subtracted (printed beside it).
Prints instructions per request (and the ratio to the baseline) and writes JSON to
``bench/results/instructions-<timestamp>.json``; ``--keep DIR`` keeps callgrind's files.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.ab import _checkout
from bench.loadgen_procs import cpu_seconds, free_port, start, stop, wait_http
from bench.overhead import machine
from bench.rig import BODIES, CHAT_PATH, MASTER_KEY, REPO, RESULTS, gateway_env


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    p.add_argument("--baseline", default=None, help="git commit to compare against (optional)")
    p.add_argument("--baseline-setting", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE")
    p.add_argument("--requests", type=int, default=300, help="requests counted per mode")
    p.add_argument("--warmup", type=int, default=100, help="uncounted requests per mode first")
    p.add_argument("--concurrency", type=int, default=1, help="connections sending at once")
    p.add_argument("--modes", default="json,stream", help="json, stream or both")
    p.add_argument(
        "--idle", type=float, default=10.0, help="seconds of idle counted first (background work)"
    )
    p.add_argument("--keep", type=Path, default=None, help="keep callgrind's output files here")
    return p.parse_args(argv)


async def _send(port: int, body: bytes, count: int, concurrency: int) -> int:
    """``count`` requests over ``concurrency`` keep-alive connections; returns the errors."""
    request = loadgen.build_request("127.0.0.1", port, CHAT_PATH, body, MASTER_KEY)
    left = [count]
    errors = [0]

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left[0] > 0:
                left[0] -= 1
                try:
                    await loadgen._exchange(reader, writer, request)
                except ConnectionError:
                    errors[0] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return errors[0]


def _idle(pid: int, quiet_s: float = 1.0, limit_s: float = 120.0) -> None:
    """Wait until the (slowed) gateway has used under 5 % of a core for ``quiet_s``."""
    deadline = time.monotonic() + limit_s
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = cpu_seconds(pid)
        if now - before < 0.05 * quiet_s:
            return
        before = now


def _control(pid: int, *args: str) -> str:
    done = subprocess.run(
        ["callgrind_control", *args, str(pid)], capture_output=True, text=True, check=True
    )
    return done.stdout


def _total(out_prefix: Path, before: set[Path]) -> int:
    """The instruction total of the dump written since ``before`` was listed."""
    new = sorted(set(out_prefix.parent.glob(out_prefix.name + "*")) - before)
    for line in new[-1].read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {new[-1]}")


def measure(
    name: str,
    tree: Path,
    extra: dict[str, str],
    *,
    args: argparse.Namespace,
    fake_port: int,
    work: Path,
) -> dict[str, Any]:
    env = gateway_env(fake_port, work / f"{name}.db")
    env.update(extra)
    env["PYTHONPATH"] = str(tree)
    port = free_port()
    out_prefix = work / f"callgrind.{name}"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_prefix}.%p",
        sys.executable,
        "-m",
        "app",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = work / f"{name}.log"
    proc = start(cmd, log, env, tree)
    row: dict[str, Any] = {"variant": name}
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc, log, timeout=900)
        _idle(proc.pid, quiet_s=2.0)
        if args.idle > 0:
            before = set(work.glob(out_prefix.name + "*"))
            _control(proc.pid, "--zero")
            _control(proc.pid, "--instr=on")
            time.sleep(args.idle)  # nothing to wait on: the point is to let time pass
            _control(proc.pid, "--dump")
            _control(proc.pid, "--instr=off")
            row["idle_per_s"] = _total(out_prefix, before) / args.idle
            print(f"{name:10} idle   {row['idle_per_s'] / 1e6:8.3f} M instr/s", flush=True)
        for mode in args.modes.split(","):
            body = BODIES[mode]
            asyncio.run(_send(port, body, args.warmup, args.concurrency))
            _idle(proc.pid)
            before = set(work.glob(out_prefix.name + "*"))
            _control(proc.pid, "--zero")
            _control(proc.pid, "--instr=on")
            started = time.monotonic()
            errors = asyncio.run(_send(port, body, args.requests, args.concurrency))
            _idle(proc.pid)
            _control(proc.pid, "--dump")
            _control(proc.pid, "--instr=off")
            total = _total(out_prefix, before)
            seconds = time.monotonic() - started
            background = row.get("idle_per_s", 0.0) * seconds
            row[mode] = {
                "instructions": total,
                "per_request": (total - background) / args.requests,
                "background_per_request": background / args.requests,
                "errors": errors,
                "seconds": seconds,
            }
            print(
                f"{name:10} {mode:6} {row[mode]['per_request'] / 1e6:8.3f} M instr/request"
                f" (+{background / args.requests / 1e6:.3f} M idle work over {seconds:.0f} s;"
                f" {args.requests} requests, c={args.concurrency}, {errors} errors)",
                flush=True,
            )
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                dumps = sorted(set(work.glob(out_prefix.name + "*")) - before)
                shutil.copy(dumps[-1], args.keep / f"callgrind.{name}.{mode}")
    finally:
        stop(proc)
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    work = Path(tempfile.mkdtemp(prefix="ledgergate-instr-"))
    baseline_tree = work / "baseline"
    report: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"keep": str(args.keep)}}
    fake = None
    try:
        variants: list[tuple[str, Path, dict[str, str]]] = []
        if args.baseline:
            report["baseline"] = _checkout(args.baseline, baseline_tree)
            settings = dict(s.split("=", 1) for s in args.baseline_setting)
            variants.append(("baseline", baseline_tree, settings))
        variants.append(("current", REPO, {}))
        for spec in args.variant:
            name, _, setting = spec.partition("=")
            key, _, value = setting.partition("=")
            variants.append((name, REPO, {key: value}))
        fake_port = free_port()
        fake_cmd = [sys.executable, "-m", "bench.fake_upstream", "--port", str(fake_port)]
        fake = start(fake_cmd, work / "fake.log", cwd=REPO)
        wait_http(f"http://127.0.0.1:{fake_port}/v1/models", fake, work / "fake.log")
        rows = [
            measure(n, tree, extra, args=args, fake_port=fake_port, work=work)
            for n, tree, extra in variants
        ]
        report["rows"] = rows
        base = rows[0]
        print("\ninstructions per request (M); ratio to the first variant")
        for row in rows:
            cells = "  ".join(
                f"{mode} {row[mode]['per_request'] / 1e6:.3f}"
                f" ×{row[mode]['per_request'] / base[mode]['per_request']:.3f}"
                for mode in args.modes.split(",")
            )
            print(f"{row['variant']:10} {cells}")
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"instructions-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps(report, indent=2))
        print(f"wrote {out}")
        return 0
    finally:
        if fake is not None:
            stop(fake)
        if args.baseline:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline_tree)],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
