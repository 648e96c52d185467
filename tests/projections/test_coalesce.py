"""The serving runner coalesces catch-ups, yet a waiter (``min_position``) is served at once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.adapters.eventstore import InMemoryEventStore
from projections import queries, snapshot
from projections.runner import ProjectionRunner
from projections.schema import projection_checkpoints, rm_dropins
from tests.projections.factory import append, append_request, scan

HOUR = 3600.0


async def stored_positions(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(projection_checkpoints.c.name, projection_checkpoints.c.position)
        )
        return {name: position for name, position in rows.all()}


async def test_a_waiter_cuts_the_window_short(
    store: InMemoryEventStore, engine: AsyncEngine
) -> None:
    first = await append(store, "discovery", scan("s1", ["weather"], []))
    runner = ProjectionRunner(store, engine, coalesce_s=HOUR, coalesce_events=10**9)
    runner.start()
    try:
        assert await runner.wait_for(first, timeout=10, urgent=False)  # the start catches up
        head = await append_request(store, "r1", stream=False)
        # Within the window nothing is applied unless someone needs it…
        assert not await runner.wait_for(head, timeout=0.3, urgent=False)
        assert runner.position == first
        # …and a reader asking for its own write gets it without waiting out the hour.
        assert await runner.wait_for(head, timeout=10)
        summary = snapshot.requests_summary(await queries.load(engine))
        assert summary.by_status == {"completed": 1}
    finally:
        await runner.stop()
    # Discovery saw nothing in the request's page: no rows written, checkpoint moved anyway.
    assert set((await stored_positions(engine)).values()) == {head}
    async with engine.connect() as conn:
        assert len((await conn.execute(select(rm_dropins))).all()) == 1


async def test_enough_pending_events_start_a_catch_up(
    store: InMemoryEventStore, engine: AsyncEngine
) -> None:
    first = await append(store, "discovery", scan("s1", ["weather"], []))
    runner = ProjectionRunner(store, engine, coalesce_s=HOUR, coalesce_events=5)
    runner.start()
    try:
        assert await runner.wait_for(first, timeout=10, urgent=False)  # the start catches up
        head = await append_request(store, "r1")  # 9 events: more than 5 pending
        assert await runner.wait_for(head, timeout=10, urgent=False)
        assert set((await stored_positions(engine)).values()) == {head}
    finally:
        await runner.stop()


async def test_waiters_keep_working_across_many_small_commits(
    store: InMemoryEventStore, engine: AsyncEngine
) -> None:
    runner = ProjectionRunner(store, engine, coalesce_s=HOUR)
    runner.start()
    try:
        for n in range(5):
            head = await append_request(store, f"r{n}", stream=False)
            assert await runner.wait_for(head, timeout=10)
        summary = snapshot.requests_summary(await queries.load(engine))
        assert summary.total == 5 and summary.by_status == {"completed": 5}
    finally:
        await runner.stop()
