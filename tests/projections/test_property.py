"""Property: for random logs, incremental processing cut anywhere equals a rebuild from 0."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.adapters.eventstore import InMemoryEventStore
from domain import events as ev
from projections.db import create_read_model_engine
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from projections.schema import metadata
from tests.projections.dump import dump
from tests.projections.factory import append, chat_request, scan

NAMES = st.sampled_from(["weather", "math", "gpt-4o", "other-model"])
TOOLS = st.lists(
    st.tuples(
        st.sampled_from(["get_weather", "add", "rm_rf"]),
        st.sampled_from(["ok", "error", "denied", "timeout"]),
    ),
    max_size=3,
)
REQUEST = st.fixed_dictionaries(
    {
        "model": NAMES,
        "key_id": st.sampled_from(["key-1", "key-2", "key-3"]),
        "stream": st.booleans(),
        "words": st.lists(st.sampled_from(["a", "b", " c"]), max_size=4),
        "outcome": st.sampled_from(["completed", "completed", "failed", "cancelled", "open"]),
        "duration_us": st.integers(0, 30_000_000),
        "ttft_us": st.integers(0, 5_000_000),
        "tools": TOOLS,
        "denied_tool": st.sampled_from(["", "rm_rf"]),
    }
)
SCAN = st.tuples(
    st.lists(st.sampled_from(["a1", "a2", "a3"]), max_size=3, unique=True),
    st.lists(st.sampled_from(["a2", "b1", "b2"]), max_size=2, unique=True),
)
STEP = st.one_of(REQUEST.map(lambda r: ("request", r)), SCAN.map(lambda s: ("scan", s)))


async def _build_log(steps: list[tuple[str, object]]) -> InMemoryEventStore:
    store = await InMemoryEventStore.open()
    for n, (kind, arg) in enumerate(steps):
        if kind == "scan":
            loaded, failed = arg  # type: ignore[misc]
            await append(store, "discovery", scan(f"s{n}", loaded, failed))
        else:
            events = chat_request(f"r{n}", **arg)  # type: ignore[arg-type]
            await append(store, ev.request_stream(f"r{n}"), events)
    return store


async def _check(steps: list[tuple[str, object]], cuts: list[int], page: int) -> None:
    store = await _build_log(steps)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_read_model_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'rm.db'}")
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            head = await store.head()
            for cut in sorted(c % (head + 1) for c in cuts):  # a new runner after each cut
                runner = ProjectionRunner(store, engine, page_size=page)
                await runner.catch_up(until=cut)
                await runner.stop()
            runner = ProjectionRunner(store, engine, page_size=page)
            assert await runner.catch_up() == head
            await runner.stop()
            incremental = await dump(engine)
            await rebuild(store, engine, page_size=5000)
            assert await dump(engine) == incremental
        finally:
            await engine.dispose()
            await store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(STEP, min_size=1, max_size=12),
    cuts=st.lists(st.integers(0, 10_000), max_size=4),
    page=st.integers(1, 40),
)
def test_rebuild_equals_incremental(
    steps: list[tuple[str, object]], cuts: list[int], page: int
) -> None:
    asyncio.run(_check(steps, cuts, page))
