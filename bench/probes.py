"""Import probes: what probing a drop-in in a child process costs against importing it in-process.

``python -m bench.probes [--rounds N]``: for each fixture drop-in under tests/fixtures/dropins/good,
the in-process ``load_python`` time and the probe time (fork from the warm probe server, import,
judge, verdict back), median of N rounds, side by side; plus the probe server's cold start once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from app.adapters.discovery.files import find_dropins
from app.adapters.discovery.loader import forget, load_python
from app.adapters.workers.probe import ImportProbe

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "dropins" / "good"


async def run(rounds: int) -> None:
    probe = ImportProbe(timeout_s=60.0, memory_limit_mb=2048)
    sources, _ = find_dropins([str(ROOT)])
    start = time.perf_counter()
    await probe.check(sources[0], [])  # starts the probe server
    cold = time.perf_counter() - start
    print(f"probe server cold start + first probe: {cold * 1000:.0f} ms")
    print(f"{'drop-in':<10} {'in-process ms':>14} {'probe ms':>9} {'ratio':>6}")
    for source in sources:
        inproc, probed = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            loaded, _entry = load_python(source)
            inproc.append(time.perf_counter() - t)
            forget(loaded.private_name)
            t = time.perf_counter()
            assert await probe.check(source, []) is None
            probed.append(time.perf_counter() - t)
        a, b = statistics.median(inproc) * 1000, statistics.median(probed) * 1000
        print(f"{source.name:<10} {a:>14.1f} {b:>9.1f} {b / a:>6.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.probes")
    parser.add_argument("--rounds", type=int, default=9)
    asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
