"""Audit benchmark: the Merkle tree follower, proofs and bundles on a large log; writer cost.

Run: ``python -m bench.audit [--events N] [--quick] [--dir DIR] [--runs N]``. Prints a Markdown
table. Not a test: numbers depend on the machine and on what else runs on it.

1. Fills a log of N events (requests of ~36 events, many in flight, as ``bench.projections``),
   with one 40-event request whose events are interleaved with the others'.
2. The follower's catch-up over the whole log: events/s and CPU per event.
3. Proof latency at tree size N: inclusion (random positions), consistency (random first size),
   the 40-event request's bundle (checkpoint covering it already signed).
4. The writer's cost: the same appends (requests of ~36 events) with and without the follower
   running beside it in the process, side by side, alternating; CPU of the whole process per event.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from app.adapters.audit_key import Signer
from app.adapters.eventstore.sqlite import SqliteEventStore
from app.ids import new_request_id, uuid7
from app.services.audit import AuditService
from bench.projections import fill, request_events
from domain import events as ev
from domain.ports import NewEvent
from projections.audit_tree import AuditTree
from projections.db import create_read_model_engine


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def interleaved_request(store: SqliteEventStore, rng: random.Random, size: int) -> str:
    """One request of ``size`` events, each appended between two other requests."""
    rid = new_request_id()
    stream = ev.request_stream(rid)
    for seq in range(size):
        _, others = request_events(rng)
        other = new_request_id()
        await store.append(ev.request_stream(other), [NewEvent.of(e, uuid7()) for e in others])
        delta = ev.StreamDelta(seq=seq, delta={"content": "audited "})
        event: ev.Event = delta
        if seq == size - 1:
            event = ev.RequestCompleted(
                request_id=rid, model="m", finish_reason="stop", duration_us=1, created=1
            )
        await store.append(stream, [NewEvent.of(event, uuid7())])
    return rid


def writer_thread_cpu(store: SqliteEventStore) -> float:
    """CPU seconds the store's writer thread has used (read on that thread itself)."""
    # Our own store's executor, reached for this measurement only.
    return store._write_thread.submit(time.thread_time).result()


async def writer_cost(
    store: SqliteEventStore, engine: AsyncEngine, events: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """µs of CPU per appended event, without and with the follower (alternating rounds):
    the writer thread's, and the whole process's (appenders, writer, reader, follower)."""
    samples: dict[str, tuple[list[float], list[float]]] = {"writer": ([], []), "process": ([], [])}
    tree = AuditTree(store, engine)
    await tree.catch_up()
    for r in range(rounds * 2):
        follow = r % 2 == 1
        task = tree.start() if follow else None
        cpu, writer = time.process_time(), writer_thread_cpu(store)
        await fill(store, events, seed=100 + r)
        if follow:
            await tree.catch_up()  # the follower's share of this round, all of it
        spent = {
            "process": (time.process_time() - cpu) / events * 1e6,
            "writer": (writer_thread_cpu(store) - writer) / events * 1e6,
        }
        for name, value in spent.items():
            samples[name][1 if follow else 0].append(value)
        if task is not None:
            await tree.stop()
        else:
            await tree.catch_up()  # keep it current, outside the measured time
    return {k: (statistics.median(a), statistics.median(b)) for k, (a, b) in samples.items()}


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100 k events")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--writer-events", type=int, default=50_000)
    parser.add_argument("--writer-rounds", type=int, default=3)
    parser.add_argument("--dir", default=".")
    args = parser.parse_args(argv)
    total = 100_000 if args.quick else args.events
    work = Path(tempfile.mkdtemp(prefix="bench-audit-", dir=args.dir))
    url = f"sqlite+aiosqlite:///{work / 'log.db'}"
    rng = random.Random(3)
    rows: list[tuple[str, str]] = []
    try:
        store = await SqliteEventStore.open(url, synchronous="NORMAL")
        start = time.perf_counter()
        await fill(store, total // 2)
        rid = await interleaved_request(store, rng, 40)
        await fill(store, total - await store.head(), seed=8)
        head = await store.head()
        print(f"filled {head:,} events in {time.perf_counter() - start:.1f}s")
        engine = create_read_model_engine(url)

        tree = AuditTree(store, engine)
        wall, cpu = time.perf_counter(), time.process_time()
        await tree.catch_up()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows.append(
            (
                "follower catch-up from 0",
                f"{head / wall:,.0f} events/s, {cpu / head * 1e6:.1f} µs CPU/event",
            )
        )
        signer = Signer("bench.example/log", Ed25519PrivateKey.generate())
        audit = AuditService(store, tree, signer, interval_s=0)
        signed = await audit.sign()
        size = signed.tree_size

        async def sample(label: str, make: object, runs: int) -> None:
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                await make()  # type: ignore[operator]
                times.append((time.perf_counter() - t) * 1000)
            rows.append(
                (label, f"p50 {statistics.median(times):.2f} ms, p99 {pct(times, 0.99):.2f} ms")
            )

        def inclusion():  # type: ignore[no-untyped-def]
            return audit.inclusion(rng.randint(1, size), size)

        def consistency():  # type: ignore[no-untyped-def]
            return audit.consistency(rng.randint(1, size), size)

        def bundle():  # type: ignore[no-untyped-def]
            return audit.bundle(rid)

        await sample(f"inclusion proof, tree of {size:,}", inclusion, args.runs)
        await sample(f"consistency proof to {size:,}", consistency, args.runs)
        await sample("bundle of a 40-event request", bundle, max(args.runs // 10, 20))
        t = time.perf_counter()
        await audit.sign()
        rows.append(
            ("sign a checkpoint (tree current)", f"{(time.perf_counter() - t) * 1000:.1f} ms")
        )

        cost = await writer_cost(store, engine, args.writer_events, args.writer_rounds)
        for name, label in (("writer", "writer thread"), ("process", "whole process")):
            base, followed = cost[name]
            rows.append(
                (
                    f"{label}: CPU per appended event, without / with the follower",
                    f"{base:.2f} / {followed:.2f} µs ({(followed / base - 1) * 100:+.0f} %)",
                )
            )
        await engine.dispose()
        await store.close()
        print(f"\n{head:,} events, {args.runs} samples per proof\n")
        print("| measure | result |\n|---|---:|")
        for label, value in rows:
            print(f"| {label} | {value} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
