"""Node leases (issue 11, item 2): a second ``serve`` on the same SQLite file leaves the first
one's live requests alone; a node that is SIGKILLed has its open requests ended once, by another.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from app.adapters.eventstore import open_event_store
from app.adapters.eventstore.export import verify
from app.settings import Settings
from domain.events import TERMINAL_REQUEST_TYPES
from domain.ports import RecordedEvent
from tests.cluster.nodes import MASTER, cluster
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.serve import Served

BODY = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


async def request_streams(url: str) -> dict[str, list[RecordedEvent]]:
    store = await open_event_store(Settings(database_url=url))
    try:
        out: dict[str, list[RecordedEvent]] = {}
        after = 0
        while page := await store.read_all(after, 5000):
            for e in page:
                if e.stream.startswith("request:"):
                    out.setdefault(e.stream, []).append(e)
            after = page[-1].position
        assert (await verify(store)).ok
        return out
    finally:
        await store.close()


async def wait_in_log(
    url: str, stream: str, done: Callable[[list[RecordedEvent]], bool], timeout: float = 30.0
) -> None:
    """Follow the log (other processes write it) until ``done(stream's events)``."""
    store = await open_event_store(Settings(database_url=url))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not done(await store.read_stream(stream)):
            left = deadline - loop.time()
            assert left > 0, f"{stream} was never ended"
            await store.wait_for(await store.head() + 1, left)
    finally:
        await store.close()


def terminals(events: list[RecordedEvent]) -> list[str]:
    return [e.type for e in events if e.type in TERMINAL_REQUEST_TYPES]


def stream_in_background(node: Served) -> tuple[threading.Thread, list[str], threading.Event]:
    """A streamed request on ``node``: the list gets the request id (then the event is set),
    then the body, or the error."""
    result: list[str] = []
    started = threading.Event()

    def run() -> None:
        try:
            with httpx.stream(
                "POST",
                f"{node.base}/v1/chat/completions",
                json=BODY,
                headers={"Authorization": f"Bearer {MASTER}"},
                timeout=60,
            ) as response:
                result.append(response.headers["x-request-id"])
                started.set()
                result.append(response.read().decode())
        except httpx.HTTPError as exc:
            result.append(f"error: {exc}")
        started.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result, started


def test_a_second_serve_leaves_live_requests_alone_and_a_killed_node_is_ended_once(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    # Paused after its first chunk until the second node has started: live, whatever the load.
    text = "one two three four five six seven eight"
    fake_upstream.push(Reply("text", text=text, chunks=8, pause_after=1))
    # A 6 s lease: a second node starting on a loaded machine can starve the first of CPU for
    # longer than the default 2 s, and a live node must not look dead for that.
    with cluster(url, fake_upstream.base_url, tmp_path, lease_s=6.0) as nodes:
        first = nodes.start()
        thread, result, _ = stream_in_background(first)
        fake_upstream.wait_requests(1)
        nodes.start()  # a rolling restart: its start-up sweep runs now
        open_now = asyncio.run(request_streams(url))
        assert len(open_now) == 1
        assert terminals(next(iter(open_now.values()))) == []  # still live when `second` started
        fake_upstream.resume()
        thread.join(60)
        assert result and "data: [DONE]" in result[-1]
        # Now a node dies mid-stream: the survivor ends its request once its lease expires.
        fake_upstream.push(Reply("text", text="never finished", chunks=3, hold_after=1))
        thread, result, started = stream_in_background(first)
        assert started.wait(30)
        killed = f"request:{result[0]}"  # its headers came with the first chunk
        asyncio.run(wait_in_log(url, killed, bool))  # its request.received is durable
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        thread.join(60)
        asyncio.run(wait_in_log(url, killed, terminals))  # the survivor sees the lease expire
    streams = asyncio.run(request_streams(url))
    assert len(streams) == 2
    for events in streams.values():
        assert len(terminals(events)) == 1, [e.type for e in events]
    assert terminals(streams[killed]) == ["request.interrupted"]
