"""The runner: counts from the log, crash-safety of the checkpoint, rebuild while serving."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.adapters.eventstore import InMemoryEventStore
from domain import events as ev
from projections import queries, snapshot
from projections.page import PageWrite
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from projections.schema import projection_checkpoints
from tests.projections.dump import dump
from tests.projections.factory import append, append_request, scan


async def fill(store: InMemoryEventStore) -> int:
    await append(store, "discovery", scan("s1", ["weather"], ["broken"]))
    await append_request(store, "r1", tools=[("get_weather", "ok"), ("get_weather", "timeout")])
    await append_request(
        store, "r2", model="gpt-4o", target="upstream", key_id="key-2", outcome="failed"
    )
    await append_request(store, "r3", stream=False, outcome="completed", denied_tool="rm_rf")
    await append_request(store, "r4", outcome="cancelled", tools=[("rm_rf", "denied")])
    return await append(
        store,
        "request:r5",
        [
            ev.RequestReceived(
                request_id="r5",
                key_id="key-1",
                model="weather",
                stream=True,
                target="agent",
                body={},
            ),
        ],
    )


async def test_counts_follow_the_log(store: InMemoryEventStore, engine: AsyncEngine) -> None:
    head = await fill(store)
    runner = ProjectionRunner(store, engine, page_size=7)  # pages cut requests in the middle
    assert await runner.catch_up() == head
    await runner.stop()
    m = await queries.load(engine)
    snap = snapshot.metrics_snapshot(m, head)
    req = snap.requests
    assert req.by_status == {"completed": 2, "failed": 1, "cancelled": 1}
    assert req.total == 4 and req.in_flight == 1
    assert req.prompt_tokens == 12 * 2 and req.completion_tokens == 4
    assert req.duration.count == 2 and req.ttft.count == 1  # r3 was not streamed
    assert 100 <= (req.duration.p50_ms or 0) <= 142  # 120 ms within one √2 bucket
    assert {k.key_id: k.failed for k in req.by_key} == {"key-1": 0, "key-2": 1}
    tools = {(t.tool, t.source): t for t in snap.tools.breakdown}
    assert tools[("get_weather", "gateway")].calls == 2
    assert tools[("get_weather", "gateway")].timeouts == 1
    assert tools[("rm_rf", "gateway")].denials == 1
    assert snap.discovery.agents == ["weather"]
    [failed] = snap.discovery.failed_dropins
    assert (failed.name, failed.error_type, failed.failure_count) == ("broken", "import_error", 1)
    assert failed.remediation == "pip install nope"
    assert snap.acl.deny == 1 and snap.acl.allow == 4
    assert snap.log.events == head == sum(snap.log.by_type.values())
    assert snap.log.by_type["stream.delta"] == 3 * 4
    assert all(p.lag == 0 and p.position == head for p in snap.projections)
    rows = await queries.recent_requests(engine, limit=2)
    assert [r.request_id for r in rows] == ["r5", "r4"]
    older = await queries.recent_requests(engine, limit=10, before=rows[-1].first_position)
    assert [r.request_id for r in older] == ["r3", "r2", "r1"]


async def test_fixed_dropin_shows_as_loaded(store: InMemoryEventStore, engine: AsyncEngine) -> None:
    await append(store, "discovery", scan("s1", [], ["broken"]))
    await append(store, "discovery", scan("s2", [], ["broken"]))
    await append(store, "discovery", scan("s3", ["broken"], []))
    runner = ProjectionRunner(store, engine)
    await runner.catch_up()
    await runner.stop()
    report = snapshot.dropins_report(await queries.load(engine))
    [d] = report.dropins
    assert d.state == "loaded" and d.failure_count == 2 and d.load_count == 1
    assert d.error_type == "import_error"  # the history stays visible
    assert d.first_failed_at is not None and d.first_failed_at <= (d.last_failed_at or "")
    assert report.last_scan is not None and report.last_scan.scan_id == "s3"
    assert report.last_scan.scans_completed == 3


class Crash(Exception):
    pass


async def test_crash_between_apply_and_commit_counts_nothing_twice(
    store: InMemoryEventStore, engine: AsyncEngine
) -> None:
    head = await fill(store)
    first = ProjectionRunner(store, engine, page_size=10)
    await first.catch_up(until=10)
    pages = 0

    async def crash() -> None:
        nonlocal pages
        pages += 1
        raise Crash

    first.before_commit = crash
    with pytest.raises(Crash):
        await first.catch_up()
    await first.stop()
    assert pages == 1
    async with engine.connect() as conn:
        positions = (await conn.execute(select(projection_checkpoints.c.position))).scalars()
        assert set(positions) == {10}  # the crashed page's checkpoint did not move
    second = ProjectionRunner(store, engine, page_size=10)
    assert await second.catch_up() == head
    await second.stop()
    incremental = await dump(engine)
    await rebuild(store, engine)
    assert await dump(engine) == incremental


async def test_cancelled_mid_commit_then_resumed(
    store: InMemoryEventStore, engine: AsyncEngine
) -> None:
    head = await fill(store)
    runner = ProjectionRunner(store, engine, page_size=10)
    entered = asyncio.Event()

    async def hang() -> None:
        entered.set()
        await asyncio.Event().wait()

    runner.before_commit = hang
    task = asyncio.create_task(runner.catch_up())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await runner.stop()
    again = ProjectionRunner(store, engine, page_size=10)
    assert await again.catch_up() == head
    await again.stop()
    incremental = await dump(engine)
    await rebuild(store, engine)
    assert await dump(engine) == incremental


async def test_rebuild_while_the_live_runner_serves(
    store: InMemoryEventStore, engine: AsyncEngine
) -> None:
    await fill(store)
    live = ProjectionRunner(store, engine, page_size=5)
    live.start()
    try:
        assert await live.wait_for(await store.head(), timeout=10)
        before = await dump(engine)
        new = await rebuild(store, engine, ["requests", "tools"], page_size=4)
        assert await dump(engine) == before  # swapped in: same numbers, new generation
        old = {c.name: c.generation for c in (await queries.load(engine)).checkpoints}
        assert old["requests"] == new["requests"].generation
        head = await append_request(store, "r9", tools=[("get_weather", "ok")])
        assert await live.wait_for(head, timeout=10)  # resumes on the new generation
        assert live.checkpoints["requests"].generation == new["requests"].generation
        snap = snapshot.requests_summary(await queries.load(engine))
        assert snap.by_status["completed"] == 3
    finally:
        await live.stop()
    following = await dump(engine)
    await rebuild(store, engine)
    assert await dump(engine) == following
    async with engine.connect() as conn:  # the old generations' rows are gone
        states = (await conn.execute(select(projection_checkpoints.c.state))).scalars()
        assert list(states) == ["live"] * 5


async def test_cancelled_after_the_commit_then_resumed_by_the_same_runner(
    store: InMemoryEventStore,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    head = await fill(store)
    runner = ProjectionRunner(store, engine, page_size=10)
    loop = asyncio.get_running_loop()
    task: asyncio.Task[int] | None = None
    write = PageWrite.write

    def write_then_cancel(job: PageWrite, db: sqlite3.Connection, *, commit: bool) -> None:
        write(job, db, commit=commit)
        if task is not None:  # the page is committed; its caller is cancelled before it knows
            loop.call_soon_threadsafe(task.cancel)

    monkeypatch.setattr(PageWrite, "write", write_then_cancel)
    task = asyncio.create_task(runner.catch_up())
    with pytest.raises(asyncio.CancelledError):
        await task
    task = None
    async with engine.connect() as conn:
        positions = (await conn.execute(select(projection_checkpoints.c.position))).scalars()
        assert set(positions) == {10}  # committed, while the runner still believes 0
    with caplog.at_level(logging.INFO, logger="ledgergate.projections"):
        assert await runner.catch_up() == head
    assert "checkpoint moved" in caplog.text  # the compare-and-set caught the stale belief
    await runner.stop()
    incremental = await dump(engine)
    await rebuild(store, engine)
    assert await dump(engine) == incremental
