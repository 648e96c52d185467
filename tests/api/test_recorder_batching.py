"""The recorder batches a request's events: fewer commits, every event kept, log order = record
order, and all durable when ``flush`` returns (so before the end of a response)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from app.adapters.eventstore import open_event_store
from app.adapters.eventstore.export import verify
from app.ids import uuid7
from app.services import recorder as recorder_module
from app.services.recorder import BATCH_EVENTS, RequestRecorder
from app.settings import Settings
from domain.events import RequestCancelled, RequestCompleted, RequestInterrupted, StreamDelta
from domain.ports import ANY, EventStore, NewEvent, WrongExpectedVersion
from tests.api.conftest import data, events_of, types_of, wait_for_terminal
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.live_server import LiveGateway

MSG = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    s = await open_event_store(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'l.db'}"))
    yield s
    await s.close()


def delta(seq: int) -> StreamDelta:
    return StreamDelta(seq=seq, delta={"content": f"word{seq} "})


def completed(request_id: str) -> RequestCompleted:
    return RequestCompleted(
        request_id=request_id, created=0, model="m", finish_reason="stop", duration_us=1
    )


def seqs(events: Sequence[Any]) -> list[int]:
    return [msgspec.json.decode(e.data)["seq"] for e in events]


class GatedStore:
    """Delegates to a real store, but ``submit`` waits at the gate (a full store, a slow disk)."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def submit(
        self, stream: str, events: Sequence[NewEvent], expected_version: int = ANY
    ) -> asyncio.Future[list[int]]:
        self.entered.set()
        await self.gate.wait()
        return await self.inner.submit(stream, events, expected_version)


async def test_a_whole_request_is_one_commit_in_record_order(store: EventStore) -> None:
    recorder = RequestRecorder(store, "r1")
    await recorder.record(delta(0), delta(1))
    for seq in range(2, 40):
        await recorder.record(delta(seq))
    assert await recorder.flush() == 40
    events = await store.read_stream("request:r1")  # durable: flush returned
    assert seqs(events) == list(range(40)) and [e.version for e in events] == list(range(1, 41))
    assert len({e.recorded_at for e in events}) == 1  # one transaction, one fsync
    assert (await verify(store)).ok


async def test_a_full_batch_goes_to_the_log_without_waiting(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "LINGER_SECONDS", 3600.0)  # only the size can send it
    recorder = RequestRecorder(store, "r2")
    for seq in range(BATCH_EVENTS + 1):
        await recorder.record(delta(seq))
    assert await store.wait_for(BATCH_EVENTS, timeout=10)
    assert seqs(await store.read_all(0, 1000)) == list(range(BATCH_EVENTS))  # the rest waits
    assert await recorder.flush() == BATCH_EVENTS + 1
    assert seqs(await store.read_stream("request:r2")) == list(range(BATCH_EVENTS + 1))


async def test_recorded_events_reach_the_log_soon_without_a_flush(store: EventStore) -> None:
    recorder = RequestRecorder(store, "r3")
    await recorder.record(delta(0), delta(1), delta(2))
    assert await store.wait_for(3, timeout=10)  # a long answer is logged as it goes
    assert seqs(await store.read_stream("request:r3")) == [0, 1, 2]
    assert await recorder.flush() == 3


async def test_a_flush_behind_a_slow_timed_batch_keeps_the_order(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "LINGER_SECONDS", 0.001)
    gated = GatedStore(store)
    recorder = RequestRecorder(gated, "r4")  # type: ignore[arg-type]
    await recorder.record(delta(0), delta(1))
    await gated.entered.wait()  # the timer's batch is on its way, stuck at the gate
    await recorder.record(delta(2))
    flushing = asyncio.create_task(recorder.flush())
    gated.gate.set()
    assert await flushing == 3
    assert seqs(await store.read_stream("request:r4")) == [0, 1, 2]


async def test_cancelled_while_the_store_is_full_loses_nothing(store: EventStore) -> None:
    gated = GatedStore(store)
    recorder = RequestRecorder(gated, "r5")  # type: ignore[arg-type]

    async def stream() -> None:
        for seq in range(BATCH_EVENTS + 5):
            await recorder.record(delta(seq))

    task = asyncio.create_task(stream())
    await gated.entered.wait()  # the full batch waits for room in the store
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gated.gate.set()  # the store has room again
    # As ChatRun does on a disconnect: record the end, then flush.
    await recorder.record(RequestCancelled(request_id="r5", reason="client_disconnected"))
    assert await recorder.flush() == BATCH_EVENTS + 1
    events = await store.read_stream("request:r5")
    assert seqs(events[:-1]) == list(range(BATCH_EVENTS))  # the batch the cancel interrupted
    assert events[-1].type == "request.cancelled"


async def test_a_request_ended_by_another_node_is_not_ended_again(store: EventStore) -> None:
    recorder = RequestRecorder(store, "r6")
    await recorder.record(delta(0), delta(1))
    await recorder.flush()
    # Another node took this one for dead and ended the request, as ``mark_interrupted`` does.
    interrupted = RequestInterrupted(request_id="r6", reason="node_lease_expired")
    await store.append("request:r6", [NewEvent.of(interrupted, uuid7())], 2)
    await recorder.record(delta(2), completed("r6"))
    with pytest.raises(WrongExpectedVersion):
        await recorder.flush()
    types = [e.type for e in await store.read_stream("request:r6")]
    assert types == ["stream.delta", "stream.delta", "request.interrupted"]


async def test_a_request_this_node_ended_is_not_interrupted_by_another(store: EventStore) -> None:
    recorder = RequestRecorder(store, "r7")
    await recorder.record(delta(0))
    await recorder.record(completed("r7"))
    await recorder.flush()
    interrupted = RequestInterrupted(request_id="r7", reason="node_lease_expired")
    with pytest.raises(WrongExpectedVersion):  # the version it read before this node's end
        await store.append("request:r7", [NewEvent.of(interrupted, uuid7())], 1)
    assert [e.type for e in await store.read_stream("request:r7")][-1] == "request.completed"


def test_streamed_request_is_one_commit_and_durable_before_done(
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_module, "LINGER_SECONDS", 3600.0)  # only flush sends it
    text = " ".join(f"w{i}" for i in range(33))
    fake_upstream.text(text, chunks=33)
    gw = gateway_factory(upstream=fake_upstream)
    body = {
        "model": "m",
        "messages": MSG,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers())
    frames = [f for f in response.content.split(b"\n\n") if f]
    assert frames[-1] == b"data: [DONE]"
    chunks = [msgspec.json.decode(f[6:]) for f in frames[:-1]]
    got = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert got == text
    events = events_of(gw, response.headers["x-request-id"])  # no waiting: durable before [DONE]
    kinds = types_of(events)
    assert kinds[0] == "request.received" and kinds[-1] == "request.completed"
    deltas = [data(e) for e in events if e.type == "stream.delta"]
    assert [d["seq"] for d in deltas] == list(range(len(chunks)))
    assert [d.get("delta", {}) for d in deltas if "usage" not in d] == [
        c["choices"][0]["delta"] for c in chunks if c["choices"]
    ]
    assert len({e.recorded_at for e in events}) == 1  # the whole request: one transaction


def test_a_chunk_is_sent_before_the_next_exists_and_logged_on_disconnect(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    # The upstream sends its role frame and "first ", then nothing more until the client
    # leaves: a gateway that held a chunk back until more arrived would never show "first ".
    fake_upstream.push(Reply("text", text="first second", chunks=2, hold_after=1))
    gw = gateway_factory(upstream=fake_upstream)
    body = {"model": "m", "messages": MSG, "stream": True}
    with (
        httpx.Client(timeout=httpx.Timeout(30.0)) as http,
        http.stream(
            "POST", gw.url("/v1/chat/completions"), json=body, headers=gw.headers()
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        seen = []
        for line in response.iter_lines():
            if line:
                seen.append(msgspec.json.decode(line.removeprefix("data: ")))
                if seen[-1]["choices"][0]["delta"].get("content"):
                    break  # the first words arrived: hang up
    assert [c["choices"][0]["delta"] for c in seen] == [
        {"role": "assistant", "content": ""},
        {"content": "first "},
    ]
    events = wait_for_terminal(gw, request_id)
    assert types_of(events)[-1] == "request.cancelled"
    deltas = [data(e)["delta"] for e in events if e.type == "stream.delta"]
    assert deltas == [c["choices"][0]["delta"] for c in seen]  # what was sent is in the log
    assert fake_upstream.wait_outcome() == "client_closed"
