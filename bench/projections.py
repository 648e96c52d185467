"""Projection benchmark: catch-up throughput over a realistic log, admin query latency on it.

Run: ``python -m bench.projections [--events N] [--quick] [--dir DIR] [--page N]``. Prints a
Markdown table. Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from app.adapters.eventstore.sqlite import SqliteEventStore
from app.api.prometheus import families, registry_of
from app.ids import new_request_id, uuid7
from app.services.replay import replay
from domain import events as ev
from domain.ports import NewEvent
from projections import queries, snapshot
from projections.db import create_read_model_engine
from projections.runner import ProjectionRunner

AGENTS = ["weather", "concierge", "refund_desk", "assistant", "math"]
UPSTREAM = ["gpt-4o-mini", "gpt-4o", "gpt-4.1"]
WORDS = ["hello ", "world", ", the ", "quick brown", " fox", " jumps", "!", " über", " 日本"]
TOOLS = ["get_weather", "lookup_order", "clock", "refund"]


def request_events(rng: random.Random) -> tuple[str, list[ev.Event]]:
    """One request as the gateway records it: ~36 events, most of them deltas."""
    rid = new_request_id()
    agent = rng.random() < 0.7
    model = rng.choice(AGENTS) if agent else rng.choice(UPSTREAM)
    key = f"key_{rng.randrange(20):02d}"
    usage = rng.random() < 0.5
    body = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": "What is the weather in Paris today?"}],
    }
    out: list[ev.Event] = [
        ev.RequestReceived(
            request_id=rid,
            key_id=key,
            model=model,
            stream=True,
            target="agent" if agent else "upstream",
            body=body,
        ),
        ev.AclDecided(
            subject=key,
            action="use_agent" if agent else "use_model",
            resource=model,
            decision="allow",
            rule="key.agents:*",
            request_id=rid,
        ),
        ev.UpstreamCallStarted(
            request_id=rid, hop=0, model="gpt-4o-mini", stream=True, upstream="scripted"
        ),
    ]
    if agent and rng.random() < 0.3:
        tool = rng.choice(TOOLS)
        outcome = rng.choices(["ok", "error", "denied", "timeout"], [90, 4, 4, 2])[0]
        out.append(
            ev.ToolInvoked(
                call_id=f"call_{rid[-8:]}",
                tool=tool,
                source="gateway",
                agent=model,
                arguments='{"city":"Paris"}',
                request_id=rid,
            )
        )
        duration = rng.randrange(200, 400_000)
        if outcome == "ok":
            out.append(
                ev.ToolCompleted(
                    call_id=f"call_{rid[-8:]}",
                    tool=tool,
                    source="gateway",
                    agent=model,
                    duration_us=duration,
                    result='"sunny"',
                    request_id=rid,
                )
            )
        else:
            out.append(
                ev.ToolFailed(
                    call_id=f"call_{rid[-8:]}",
                    tool=tool,
                    source="gateway",
                    agent=model,
                    duration_us=duration,
                    outcome=outcome,  # type: ignore[arg-type]
                    error_type=outcome,
                    message="no",
                    request_id=rid,
                )
            )
    out.append(
        ev.UpstreamCallCompleted(
            request_id=rid,
            hop=0,
            duration_us=80_000,
            finish_reason="stop",
            prompt_tokens=30,
            completion_tokens=28,
            ttft_us=20_000,
        )
    )
    out.append(ev.StreamDelta(seq=0, delta={"role": "assistant", "content": ""}))
    n = 28
    out.extend(
        ev.StreamDelta(seq=i + 1, delta={"content": WORDS[i % len(WORDS)]}) for i in range(n)
    )
    out.append(ev.StreamDelta(seq=n + 1, delta={}, finish_reason="stop"))
    if usage:
        out.append(
            ev.StreamDelta(
                seq=n + 2, usage={"prompt_tokens": 30, "completion_tokens": 28, "total_tokens": 58}
            )
        )
    end = rng.random()
    duration = int(rng.lognormvariate(12, 0.8))
    if end < 0.02:
        out.append(
            ev.RequestFailed(
                request_id=rid,
                status=502,
                error_type="upstream_error",
                code="upstream_error",
                message="boom",
                duration_us=duration,
            )
        )
    elif end < 0.03:
        out.append(
            ev.RequestCancelled(request_id=rid, reason="client_disconnected", duration_us=duration)
        )
    else:
        out.append(
            ev.RequestCompleted(
                request_id=rid,
                created=1_790_000_000,
                model=model,
                finish_reason="stop",
                duration_us=duration,
                ttft_us=duration // 5,
                prompt_tokens=30,
                completion_tokens=28,
            )
        )
    return rid, out


async def fill(store: SqliteEventStore, total: int, seed: int = 7) -> list[str]:
    """Append about ``total`` events, many requests in flight at once (as when serving)."""
    rng = random.Random(seed)
    pending: list[asyncio.Future[list[int]]] = []
    ids: list[str] = []
    count = 0
    while count < total:
        if len(ids) % 1000 == 0:
            scan = f"scan-{len(ids)}"
            found = [
                ev.ScanStarted(scan_id=scan, roots=["src/agents"], reason="watch"),
                ev.DropinFailed(
                    scan_id=scan,
                    name="broken",
                    path="src/agents/broken",
                    kind="agent",
                    error_type="missing_dependency",
                    message="No module named 'nope'",
                    remediation="pip install nope",
                ),
                ev.ScanCompleted(scan_id=scan, loaded=5, failed=1),
            ]
            pending.append(
                await store.submit("discovery", [NewEvent.of(e, uuid7()) for e in found])
            )
            count += len(found)
        rid, events = request_events(rng)
        ids.append(rid)
        batch = [NewEvent.of(e, uuid7()) for e in events]
        pending.append(await store.submit(ev.request_stream(rid), batch))
        count += len(batch)
        if len(pending) >= 2000:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    return ids


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - start) * 1000)
    ordered = sorted(times)
    return statistics.median(times), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.projections")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100 k events")
    parser.add_argument("--page", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dir", default=".")
    args = parser.parse_args(argv)
    total = 100_000 if args.quick else args.events
    work = Path(tempfile.mkdtemp(prefix="bench-projections-", dir=args.dir))
    url = f"sqlite+aiosqlite:///{work / 'log.db'}"
    try:
        store = await SqliteEventStore.open(url, synchronous="NORMAL")
        start = time.perf_counter()
        ids = await fill(store, total)
        head = await store.head()
        print(
            f"filled {head:,} events ({len(ids):,} requests) in {time.perf_counter() - start:.1f}s"
        )
        engine = create_read_model_engine(url)
        runner = ProjectionRunner(store, engine, page_size=args.page)
        start = time.perf_counter()
        await runner.catch_up()
        elapsed = time.perf_counter() - start
        await runner.stop()
        rate = head / elapsed
        rows: list[tuple[str, str]] = [
            ("catch-up, all 5 projections from 0", f"{rate:,.0f} events/s ({elapsed:.1f} s)"),
        ]

        async def snap() -> None:
            snapshot.metrics_snapshot(await queries.load(engine), head)

        async def metrics() -> None:
            models = await queries.load(engine)
            statuses = snapshot.statuses(models, head)
            generate_latest(registry_of(families(models, head, statuses)))

        async def page() -> None:
            rows_ = await queries.recent_requests(engine, limit=50, before=head // 2)
            [snapshot.request_summary(r) for r in rows_]

        async def filtered() -> None:
            await queries.recent_requests(engine, limit=50, status="failed")

        async def tools() -> None:
            snapshot.tools_report(await queries.load(engine, frozenset({"tools"})))

        async def one() -> None:
            await replay(store, ids[len(ids) // 2])

        for label, fn in (
            ("GET /admin/metrics (whole snapshot)", snap),
            ("GET /metrics (exposition)", metrics),
            ("GET /admin/requests (page of 50, keyset)", page),
            ("GET /admin/requests?status=failed", filtered),
            ("GET /admin/tools", tools),
            ("GET /admin/requests/{id} (replay)", one),
        ):
            p50, p99 = await timed(fn, args.runs)
            rows.append((label, f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"))
        await engine.dispose()
        await store.close()
        print(f"\n{head:,} events, page {args.page}, {args.runs} runs per query\n")
        print("| measure | result |\n|---|---:|")
        for label, value in rows:
            print(f"| {label} | {value} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
