"""The upstream port alone, per transport: CPU per ``HttpUpstream.send`` call, in one process.

Run: ``python -m bench.port [--calls 3200] [--rounds 3] [--profile DIR]``. Starts
``bench/fake_upstream.py``, builds one ``HttpUpstream`` per transport (``fast``: the asyncio +
httptools one; ``stock``: httpx2's stock transport; both with the gateway's pool limits), then
each round, for each transport in turn: non-streamed and streamed (35 SSE events) calls, 32
concurrent, then 1 at a time (with the 32 connections of the concurrent cell idle in the pool,
as after a burst). Prints the median process CPU per call over rounds; ``--profile DIR`` writes a
cProfile of each cell of the first round (profiling slows the pure-Python paths most).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import statistics
import subprocess
import sys
import time
from pathlib import Path

import uvloop

from app.adapters.upstream import Deadlines, HttpUpstream
from app.adapters.upstream.transport import FastHTTPTransport
from app.ports.upstream import UpstreamCall
from bench.loadgen_procs import free_port
from bench.rig import REPO

TRANSPORTS = ("fast", "stock")
CELLS = ((False, 32), (True, 32), (False, 1), (True, 1))


def _upstream(kind: str, base_url: str) -> HttpUpstream:
    from app.adapters.upstream.http import LIMITS

    return HttpUpstream(
        base_url=base_url,
        api_key="bench",
        label="bench",
        models=("*",),
        deadlines=Deadlines(),
        transport=FastHTTPTransport(limits=LIMITS) if kind == "fast" else None,
    )


async def _calls(up: HttpUpstream, *, stream: bool, calls: int, concurrency: int) -> None:
    body = {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}]}
    call = UpstreamCall(body={**body, "stream": stream})

    async def worker() -> None:
        for _ in range(calls // concurrency):
            async for _data in up.send(call):
                pass

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run(args: argparse.Namespace, port: int) -> dict[tuple[str, bool, int], list[float]]:
    ups = {kind: _upstream(kind, f"http://127.0.0.1:{port}/v1") for kind in TRANSPORTS}
    results: dict[tuple[str, bool, int], list[float]] = {}
    try:
        for up in ups.values():  # warm-up: 32 connections open and pooled
            await _calls(up, stream=True, calls=320, concurrency=32)
        for r in range(args.rounds):
            for kind, up in ups.items():
                for stream, concurrency in CELLS:
                    calls = args.calls if concurrency > 1 else args.calls // 4
                    profile = cProfile.Profile() if args.profile and r == 0 else None
                    start = time.process_time()
                    if profile is not None:
                        profile.enable()
                    await _calls(up, stream=stream, calls=calls, concurrency=concurrency)
                    cpu_ms = (time.process_time() - start) * 1000 / calls
                    if profile is not None:
                        profile.disable()
                        name = f"{kind}-{'stream' if stream else 'json'}-c{concurrency}.prof"
                        profile.dump_stats(Path(args.profile) / name)
                    else:
                        results.setdefault((kind, stream, concurrency), []).append(cpu_ms)
    finally:
        for up in ups.values():
            await up.close()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.port", description=__doc__)
    p.add_argument("--calls", type=int, default=3200, help="calls per concurrent cell")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--profile", metavar="DIR", help="cProfile each cell of the first round")
    args = p.parse_args(argv)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        args.rounds += 1  # the profiled round is not measured
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_upstream", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    try:
        assert fake.stdout is not None
        fake.stdout.readline()  # "listening on …"
        results = uvloop.run(run(args, port))
    finally:
        fake.terminate()
        fake.wait()
    print("CPU ms per call, median of rounds (all rounds)")
    for (kind, stream, concurrency), values in results.items():
        mode = "stream" if stream else "json"
        spread = " ".join(f"{v:.3f}" for v in values)
        print(
            f"  {kind:6s} {mode:6s} c={concurrency:<3d} {statistics.median(values):.3f}  ({spread})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
