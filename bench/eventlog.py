"""Event log benchmark: durable append throughput and latency, replay speed, bytes per event.

Run: ``python -m bench.eventlog [--quick] [--replay-events N] [--dir DIR]``. Prints a Markdown
table. Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from app.adapters.eventstore.sqlite import SqliteEventStore
from app.ids import new_request_id, uuid7
from domain.events import StreamDelta
from domain.ports import NewEvent
from domain.upcasting import decode

WORDS = ["hello ", "world", ", the ", "quick brown", " fox", " jumps", "!", " über", " 日本"]


def delta_event(seq: int) -> NewEvent:
    """A realistic ``stream.delta``: one chunk's content, as the recorder appends it."""
    data = StreamDelta(seq=seq, delta={"content": WORDS[seq % len(WORDS)]})
    return NewEvent.of(data, uuid7())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def append_run(
    path: Path,
    appenders: int,
    total: int,
    sync: str,
    *,
    per_request: int = 50,
    awaited: bool = True,
) -> dict[str, float]:
    """``appenders`` concurrent tasks, each playing requests of ``per_request`` deltas.

    ``awaited``: every delta is its own append, awaited until durable (the strictest caller).
    Otherwise the gateway's pattern: deltas are submitted as they stream (``submit``) and the
    request awaits durability once, at its end (``RequestRecorder.flush``); the latency is then
    that of the flush.
    """
    store = await SqliteEventStore.open(f"sqlite+aiosqlite:///{path}", synchronous=sync)
    latencies: list[float] = []
    per_task = max(total // appenders, 1)
    done = 0

    async def appender() -> None:
        nonlocal done
        for start in range(0, per_task, per_request):
            stream = f"request:{new_request_id()}"
            count = min(per_request, per_task - start)
            if awaited:
                for seq in range(count):
                    event = delta_event(seq)
                    t0 = time.perf_counter()
                    await store.append(stream, [event])
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


async def fill(path: Path, events: int, per_request: int = 50) -> None:
    """Requests of ``per_request`` deltas each, appended by 100 concurrent writers."""
    store = await SqliteEventStore.open(f"sqlite+aiosqlite:///{path}", synchronous="NORMAL")
    requests = events // per_request

    async def writer(n: int) -> None:
        for _ in range(n, requests, 100):
            stream = f"request:{new_request_id()}"
            futures = [
                await store.submit(stream, [delta_event(s) for s in range(i, i + 10)])
                for i in range(0, per_request, 10)
            ]
            for f in futures:
                await f

    await asyncio.gather(*(writer(n) for n in range(100)))
    await store.close()


async def replay(path: Path, typed: bool) -> float:
    store = await SqliteEventStore.open(f"sqlite+aiosqlite:///{path}")
    count, after = 0, 0
    t0 = time.perf_counter()
    while page := await store.read_all(after, 1000):
        after = page[-1].position
        count += len(page)
        if typed:
            for rec in page:
                decode(rec.type, rec.schema_version, rec.data)
    elapsed = time.perf_counter() - t0
    await store.close()
    return count / elapsed


def bytes_per_event(path: Path) -> tuple[int, float]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (count,) = conn.execute("SELECT count(*) FROM events").fetchone()
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    return count, pages * page_size / count


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller volumes")
    parser.add_argument("--replay-events", type=int, default=1_000_000)
    parser.add_argument("--dir", default=None, help="where the databases go (not a tmpfs)")
    parser.add_argument("--sync", default="FULL", choices=["FULL", "NORMAL"])
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="eventlog-bench-", dir=args.dir))
    scale = 0.2 if args.quick else 1.0
    try:
        for awaited in (True, False):
            what = "each append awaited" if awaited else "requests of 50 deltas, flush awaited"
            print(f"\n{what} (synchronous={args.sync})\n")
            print("| appenders | events | events/s | p50 ms | p99 ms |")
            print("|---:|---:|---:|---:|---:|")
            for appenders, events in ((1, 3_000), (10, 20_000), (100, 200_000), (1000, 300_000)):
                total = events if awaited else 2 * events
                path = base / f"append-{appenders}.db"
                r = await append_run(
                    path, appenders, int(total * scale), args.sync, awaited=awaited
                )
                print(
                    f"| {appenders} | {r['events']:,.0f} | {r['rate']:,.0f} | {r['p50_ms']:.2f}"
                    f" | {r['p99_ms']:.2f} |",
                    flush=True,
                )
                path.unlink()
        path = base / "replay.db"
        n = int(args.replay_events * scale)
        t0 = time.perf_counter()
        await fill(path, n)
        print(f"\nfilled {n:,} stream.delta events in {time.perf_counter() - t0:.1f} s")
        count, per_event = bytes_per_event(path)
        print(f"bytes per event (file / events, indexes and chain included): {per_event:.0f}")
        rate = await replay(path, typed=False)
        print(f"replay {count:,} events as RecordedEvent: {rate:,.0f} events/s")
        rate = await replay(path, typed=True)
        print(f"replay + typed msgspec decode: {rate:,.0f} events/s")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(main())
