"""The EventStore contract, run against the SQLite store and the in-memory fake."""

from __future__ import annotations

import asyncio

import pytest

from app.adapters.eventstore.export import verify
from app.ids import uuid7
from domain.ports import (
    ANY,
    NO_STREAM,
    EventStore,
    IdempotencyConflict,
    NewEvent,
    WrongExpectedVersion,
)
from tests.eventstore.conftest import delta


async def test_round_trip(store: EventStore) -> None:
    events = [delta(1), NewEvent(uuid7(), "request.completed", 2, b'{"b": 1, "a": "\xc3\xa9"}')]
    assert await store.append("request:x", events, NO_STREAM) == [1, 2]
    got = await store.read_all()
    assert [(e.position, e.version, e.stream) for e in got] == [
        (1, 1, "request:x"),
        (2, 2, "request:x"),
    ]
    assert [e.event_id for e in got] == [e.event_id for e in events]
    assert [(e.type, e.schema_version) for e in got] == [
        ("stream.delta", 1),
        ("request.completed", 2),
    ]
    # Payloads come back as RFC 8785 canonical JSON.
    assert got[0].data == b'{"delta":{"content":"hello "},"seq":1}'
    assert got[0].meta == b'{"request_id":"r"}'
    assert got[1].data == '{"a":"é","b":1}'.encode()
    assert got[1].meta == b"{}"
    assert got[0].prev_hash == "0" * 64
    assert got[1].prev_hash == got[0].hash
    assert got[0].recorded_at.endswith("Z") and len(got[0].recorded_at) == 27
    assert await store.head() == 2


async def test_empty_batch_writes_nothing(store: EventStore) -> None:
    assert await store.append("s", [], NO_STREAM) == []
    assert await store.head() == 0
    assert await store.read_stream("s") == []


async def test_reads_with_limits_by_stream_and_type(store: EventStore) -> None:
    for i in range(10):
        stream = f"request:{i % 3}"
        await store.append(stream, [delta(i), NewEvent(uuid7(), "tool.invoked", 1, b"{}")])
    page = await store.read_all(after=4, limit=3)
    assert [e.position for e in page] == [5, 6, 7]
    assert await store.read_all(after=20) == []
    s1 = await store.read_stream("request:1", after_version=1, limit=3)
    assert [e.version for e in s1] == [2, 3, 4]
    assert {e.stream for e in s1} == {"request:1"}
    s1_all = await store.read_stream("request:1", limit=100)
    assert [e.position for e in s1_all] == [3, 4, 9, 10, 15, 16]
    # A stream read carries each event's true link in the global chain.
    everything = {e.position: e for e in await store.read_all(limit=100)}
    assert all(e.prev_hash == everything[e.position - 1].hash for e in s1_all)
    tools = await store.read_all(after=2, limit=4, types=["tool.invoked"])
    assert [e.position for e in tools] == [4, 6, 8, 10]
    assert all(e.prev_hash == everything[e.position - 1].hash for e in tools)
    assert await store.read_all(types=["no.such_type"]) == []
    assert await store.read_stream("request:none") == []


@pytest.mark.parametrize(
    ("existing", "expected", "ok"),
    [
        (0, NO_STREAM, True),
        (0, ANY, True),
        (0, 1, False),
        (2, NO_STREAM, False),
        (2, ANY, True),
        (2, 2, True),
        (2, 1, False),
        (2, 3, False),
    ],
)
async def test_expected_version_matrix(
    store: EventStore, existing: int, expected: int, ok: bool
) -> None:
    if existing:
        await store.append("s", [delta(i) for i in range(existing)])
    batch = [delta(10), delta(11)]
    if ok:
        positions = await store.append("s", batch, expected)
        assert positions == [existing + 1, existing + 2]
        assert [e.version for e in await store.read_stream("s")][-2:] == [
            existing + 1,
            existing + 2,
        ]
    else:
        with pytest.raises(WrongExpectedVersion):
            await store.append("s", batch, expected)
        assert await store.head() == existing


async def test_duplicate_stream_version_conflicts_and_writes_nothing(store: EventStore) -> None:
    await store.append("s", [delta(1), delta(2)], NO_STREAM)
    # Two writers both read version 1 and append: the second batch clashes on version 2.
    with pytest.raises(WrongExpectedVersion):
        await store.append("s", [delta(3), delta(4), delta(5)], 1)
    assert await store.head() == 2
    assert [e.version for e in await store.read_stream("s")] == [1, 2]


async def test_idempotent_retry_returns_original_positions(store: EventStore) -> None:
    await store.append("other", [delta(0)])
    batch = [delta(1), delta(2)]
    first = await store.append("s", batch, NO_STREAM)
    assert first == [2, 3]
    assert await store.append("s", batch, NO_STREAM) == first  # stale expected version: still ok
    assert await store.append("s", batch, ANY) == first
    assert await store.head() == 3


async def test_event_ids_of_every_form_read_back_as_written(store: EventStore) -> None:
    # A canonical UUID is stored as 16 bytes; anything else as its text, including texts of 16
    # and 17 bytes (PostgreSQL pads a 16-byte text with a NUL), an upper-case UUID, non-ASCII
    # text and a long one.
    ids = ["x", "sixteen-bytes-id", "seventeen-bytes-i", uuid7()]
    ids += [uuid7().upper(), "événement", "x" * 200, uuid7()]
    events = [delta(i, event_id=event_id) for i, event_id in enumerate(ids)]
    assert await store.append("s", events[:4]) == [1, 2, 3, 4]
    assert await store.append("t", events[4:]) == [5, 6, 7, 8]
    assert await store.append("s", events[:4]) == [1, 2, 3, 4]  # retries find them again
    assert await store.append("t", events[4:], NO_STREAM) == [5, 6, 7, 8]
    assert [e.event_id for e in await store.read_all()] == ids
    assert (await verify(store)).ok


async def test_retry_in_the_same_group_is_idempotent(store: EventStore) -> None:
    batch = [delta(1)]
    futures = [await store.submit("s", batch, NO_STREAM) for _ in range(3)]
    futures += [await store.submit("s", batch, ANY) for _ in range(3)]
    assert [await f for f in futures] == [[1]] * 6
    assert await store.head() == 1


async def test_partial_overlap_or_changed_content_is_a_conflict(store: EventStore) -> None:
    a, b = delta(1), delta(2)
    await store.append("s", [a, b])
    with pytest.raises(IdempotencyConflict):
        await store.append("s", [a, delta(3)])
    with pytest.raises(IdempotencyConflict):
        await store.append("s", [b, a])  # same ids, other order
    with pytest.raises(IdempotencyConflict):
        await store.append("s", [delta(9, event_id=a.event_id), b])
    with pytest.raises(IdempotencyConflict):
        await store.append("elsewhere", [a, b])
    assert await store.head() == 2


async def test_one_bad_batch_does_not_sink_its_group(store: EventStore) -> None:
    await store.append("s", [delta(0)])
    good1 = await store.submit("a", [delta(1)], NO_STREAM)
    bad = await store.submit("s", [delta(2)], NO_STREAM)
    good2 = await store.submit("b", [delta(3)], NO_STREAM)
    assert await good1 == [2]
    with pytest.raises(WrongExpectedVersion):
        await bad
    assert await good2 == [3]
    assert (await verify(store)).ok


async def test_submit_orders_appends_of_one_task(store: EventStore) -> None:
    futures = [await store.submit("s", [delta(i)]) for i in range(50)]
    results = [await f for f in futures]
    assert results == [[i + 1] for i in range(50)]
    assert [e.data for e in await store.read_stream("s", limit=100)] == [
        b'{"delta":{"content":"hello "},"seq":%d}' % i for i in range(50)
    ]


async def test_concurrent_appenders_never_leave_a_hole(store: EventStore) -> None:
    total = 40 * 10 * 2
    seen: list[int] = []

    async def tail() -> None:
        async for page in store.subscribe(after=0, batch=37):
            positions = [e.position for e in page]
            assert positions == list(range(len(seen) + 1, len(seen) + 1 + len(page)))
            seen.extend(positions)
            if len(seen) >= total:
                return

    async def appender(n: int) -> None:
        for i in range(10):
            await store.append(f"request:{n}", [delta(i), delta(i)])

    reader = asyncio.create_task(tail())
    await asyncio.gather(*(appender(n) for n in range(40)))
    await asyncio.wait_for(reader, 30)
    assert seen == list(range(1, total + 1))
    for n in range(40):
        assert [e.version for e in await store.read_stream(f"request:{n}")] == list(range(1, 21))
    assert (await verify(store)).ok


async def test_subscribe_gives_history_then_live(store: EventStore) -> None:
    await store.append("s", [delta(i) for i in range(5)])
    pages = store.subscribe(after=2, batch=2)
    got = [e.position for e in await anext(pages)]
    got += [e.position for e in await anext(pages)]
    assert got == [3, 4, 5]
    live = asyncio.ensure_future(anext(pages))
    await store.append("s", [delta(9)])
    assert [e.position for e in await asyncio.wait_for(live, 10)] == [6]
    await pages.aclose()  # type: ignore[attr-defined]


async def test_wait_for(store: EventStore) -> None:
    assert await store.wait_for(0, timeout=0)
    assert not await store.wait_for(1, timeout=0.01)
    waiter = asyncio.ensure_future(store.wait_for(2, timeout=30))
    await store.append("s", [delta(1), delta(2)])
    assert await waiter


async def test_bounded_queue_applies_backpressure_and_drops_nothing() -> None:
    from app.adapters.eventstore.base import Batch
    from app.adapters.eventstore.memory import InMemoryEventStore

    gate = asyncio.Event()

    class StalledStore(InMemoryEventStore):
        async def _commit(self, group: list[Batch]) -> list[list[int] | BaseException]:
            await gate.wait()
            return await super()._commit(group)

    store = StalledStore(queue_batches=2)
    store._start()
    try:
        submits = [asyncio.ensure_future(store.submit("s", [delta(i)])) for i in range(20)]
        for _ in range(50):  # let every task run until it blocks
            await asyncio.sleep(0)
        # The writer holds one group (stalled), the queue is full: the other submits wait.
        assert len(store._pending) == 2
        done = [t.done() for t in submits]
        assert 2 <= sum(done) < 20 and done == sorted(done, reverse=True)
        gate.set()
        futures = [await t for t in submits]
        assert [await f for f in futures] == [[i] for i in range(1, 21)]
    finally:
        gate.set()
        await store.close()


async def test_closed_store_refuses_appends(store: EventStore) -> None:
    from domain.ports import StoreClosed

    pending = await store.submit("s", [delta(1)])
    await store.close()
    assert await pending == [1]  # queued before close: committed, not dropped
    with pytest.raises(StoreClosed):
        await store.append("s", [delta(2)])


async def test_bad_input_is_refused_before_queueing(store: EventStore) -> None:
    with pytest.raises(ValueError):
        await store.append("s", [NewEvent(uuid7(), "t", 1, b"[1, 2]")])
    with pytest.raises(ValueError):
        await store.append("s", [NewEvent(uuid7(), "t", 1, b"{nope")])
    e = delta(1)
    with pytest.raises(ValueError):
        await store.append("s", [e, e])
    assert await store.head() == 0


async def test_writes_after_an_idempotency_conflict_land_where_they_should(
    store: EventStore,
) -> None:
    a, b = delta(1), delta(2)
    assert await store.append("s", [a, b]) == [1, 2]
    with pytest.raises(IdempotencyConflict):
        await store.append("elsewhere", [a, b])  # would create a stream and a type: rolled back
    c = NewEvent(uuid7(), "never.seen_type", 1, b"{}")
    assert await store.append("elsewhere", [c]) == [3]
    got = await store.read_stream("elsewhere")
    assert [(e.position, e.version, e.type) for e in got] == [(3, 1, "never.seen_type")]
    assert await store.append("fresh", [delta(3)], NO_STREAM) == [4]
    assert [e.position for e in await store.read_stream("fresh")] == [4]
    assert [e.stream for e in await store.read_all()] == ["s", "s", "elsewhere", "fresh"]
    assert (await verify(store)).ok


async def test_a_conflict_in_a_group_does_not_leak_into_the_next_group(store: EventStore) -> None:
    a = delta(1)
    await store.append("s", [a])
    conflict = await store.submit("new-1", [a, NewEvent(uuid7(), "other.type", 1, b"{}")])
    good = await store.submit("new-2", [delta(2)], NO_STREAM)
    with pytest.raises(IdempotencyConflict):
        await conflict
    assert await good == [2]
    assert await store.append("new-1", [NewEvent(uuid7(), "other.type", 1, b"{}")]) == [3]
    assert await store.append("new-3", [delta(4)], NO_STREAM) == [4]
    for stream, positions in (("new-1", [3]), ("new-2", [2]), ("new-3", [4])):
        assert [e.position for e in await store.read_stream(stream)] == positions
    assert (await verify(store)).ok
