"""Issue 16, done when: two gateways on one PostgreSQL database, driven together, one of them
SIGKILLed, leave a log that an independent verifier accepts, with every answered request in it
once and every request ended exactly once. Also: a key revoked on one node is refused by the
other, the read models keep counting after the node running the projections died, and a node
that stalls past its lease (a loaded machine) does not end a request the other already ended.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from domain.ports import RecordedEvent
from tests.cluster.nodes import MASTER, cluster
from tests.cluster.test_leases import (
    request_streams,
    stream_in_background,
    terminals,
    wait_in_log,
)
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.serve import ROOT, Served

DOC = ROOT / "docs" / "events.md"
AUTH = {"Authorization": f"Bearer {MASTER}"}


def independent_verifier() -> str:
    """The twenty-line verifier of docs/events.md (rfc8785 and hashlib only)."""
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text("utf-8"), re.S | re.M)
    return next(b for b in blocks if "rfc8785" in b)


def ask(node: Served, n: int) -> str | None:
    """One chat request (streamed every other time); its request id if fully answered."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"hello {n}"}]}
    try:
        if n % 2:
            with httpx.stream(
                "POST", f"{node.base}/v1/chat/completions", json={**body, "stream": True},
                headers=AUTH, timeout=30,
            ) as response:  # fmt: skip
                text = response.read().decode()
                # An error event before [DONE] (the request ended elsewhere): not answered.
                ok = text.endswith("data: [DONE]\n\n") and 'data: {"error"' not in text
                if response.status_code == 200 and ok:
                    return response.headers["x-request-id"]
                return None
        response = httpx.post(
            f"{node.base}/v1/chat/completions", json=body, headers=AUTH, timeout=30
        )
        if response.status_code == 200 and response.json()["choices"][0]["message"]["content"]:
            return str(response.json()["id"])
    except httpx.HTTPError:
        pass  # the node was killed under this request: not answered
    return None


def test_a_node_stalled_past_its_lease_does_not_end_a_request_twice(
    tmp_path: Path, pg_url: str, fake_upstream: FakeUpstream
) -> None:
    with cluster(pg_url, fake_upstream.base_url, tmp_path) as c:
        c.start()  # the node that will take the other for dead
        second = c.start()
        fake_upstream.push(Reply("text", text="one two three four", chunks=4, pause_after=1))
        thread, result, started = stream_in_background(second)
        assert started.wait(30)
        stream = f"request:{result[0]}"
        # Its first delta is in the log: the node now only waits for the upstream (no commit
        # of its own holds the log's head when it is stopped).
        asyncio.run(wait_in_log(pg_url, stream, lambda ev: "stream.delta" in types(ev)))
        os.kill(second.proc.pid, signal.SIGSTOP)  # stalled: its lease runs out
        try:
            asyncio.run(wait_in_log(pg_url, stream, terminals))  # `first` ended it
        finally:
            os.kill(second.proc.pid, signal.SIGCONT)
        fake_upstream.resume()
        thread.join(60)
        assert '"code":"request_interrupted"' in result[-1].replace(" ", "")
        events = asyncio.run(request_streams(pg_url))[stream]
        assert terminals(events) == ["request.interrupted"], types(events)
        # The stalled node is alive again and goes on answering.
        assert ask(second, 0) is not None


def types(events: list[RecordedEvent]) -> list[str]:
    return [e.type for e in events]


def drive(
    nodes: list[Served], answered: list[str], stop: threading.Event, seq: itertools.count[int]
) -> None:
    while not stop.is_set():
        n = next(seq)
        alive = [node for node in nodes if node.proc.poll() is None]
        if not alive:
            return
        request_id = ask(alive[n % len(alive)], n)
        if request_id is not None:
            answered.append(request_id)


def test_two_gateways_one_killed_leave_a_verifiable_log_with_every_answer_once(
    tmp_path: Path, pg_url: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default = Reply.text_of("one two three four", chunks=4, delay=0.02)
    with cluster(pg_url, fake_upstream.base_url, tmp_path) as c:
        first, second = c.start(), c.start()

        # A key issued on one node works on the other; revoked there, it is refused here.
        issued = httpx.post(
            f"{first.base}/admin/keys", json={"name": "k", "models": ["*"]}, headers=AUTH
        ).json()
        chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        as_key = {"Authorization": f"Bearer {issued['key']}"}
        url = f"{second.base}/v1/chat/completions"
        assert httpx.post(url, json=chat, headers=as_key, timeout=30).status_code == 200
        httpx.delete(f"{first.base}/admin/keys/{issued['id']}", headers=AUTH)
        revoked_at = time.monotonic()
        while httpx.post(url, json=chat, headers=as_key, timeout=30).status_code != 401:
            assert time.monotonic() - revoked_at < 10, "the revocation never reached the node"

        # The first node started first: it runs the projections until it dies.
        assert httpx.get(f"{first.base}/readyz").json()["projections"]["leader"] is True
        assert httpx.get(f"{second.base}/readyz").json()["projections"]["leader"] is False

        # A streamed answer the first node will never finish: it is mid-stream when killed.
        fake_upstream.push(Reply("text", text="never finished", chunks=3, hold_after=1))
        held, held_result, started = stream_in_background(first)
        assert started.wait(30)
        held_stream = f"request:{held_result[0]}"
        asyncio.run(wait_in_log(pg_url, held_stream, bool))

        # Drive both nodes from 8 clients; kill the first while requests are in flight.
        answered: list[str] = []
        stop = threading.Event()
        seq = itertools.count()
        clients = [
            threading.Thread(target=drive, args=([first, second], answered, stop, seq))
            for _ in range(8)
        ]
        for t in clients:
            t.start()
        while len(answered) < 60:
            assert all(t.is_alive() for t in clients)
            time.sleep(0.05)  # waiting for client threads (HTTP), not for a projection
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        killed_at = len(answered)
        while len(answered) < killed_at + 40:
            time.sleep(0.05)  # the survivor keeps answering
        stop.set()
        for t in clients:
            t.join(60)
        held.join(60)

        # The survivor ends what the dead node left open (once its lease expires).
        streams = asyncio.run(request_streams(pg_url))
        for stream, events in streams.items():
            if not terminals(events):
                asyncio.run(wait_in_log(pg_url, stream, terminals))
        streams = asyncio.run(request_streams(pg_url))

        # Every request ended exactly once; every answered one is in the log once, completed.
        for stream, events in streams.items():
            assert len(terminals(events)) == 1, (stream, [e.type for e in events])
            assert [e.type for e in events].count("request.received") <= 1
        for request_id in answered:
            assert terminals(streams[f"request:{request_id}"]) == ["request.completed"]
        assert len(set(answered)) == len(answered)
        interrupted = [s for s, ev in streams.items() if terminals(ev) == ["request.interrupted"]]
        assert held_stream in interrupted

        # The read models, now kept by the survivor, count every request.
        head = max(e.position for events in streams.values() for e in events)
        snap = httpx.get(
            f"{second.base}/admin/metrics", params={"min_position": head}, headers=AUTH, timeout=30
        ).json()
        counted = sum(snap["requests"]["by_status"].values())
        assert counted == len(streams), (counted, len(streams), len(interrupted))
        assert httpx.get(f"{second.base}/readyz").json()["projections"]["leader"] is True

    # An independent verifier accepts the whole export.
    export = subprocess.run(
        [sys.executable, "-m", "app", "events", "export", "--database-url", pg_url],
        cwd=ROOT, capture_output=True, check=True,
    )  # fmt: skip
    verdict = subprocess.run(
        [sys.executable, "-c", independent_verifier(), "--whole"],
        input=export.stdout, capture_output=True, check=False,
    )  # fmt: skip
    assert verdict.returncode == 0, verdict.stderr
    assert verdict.stdout.startswith(b"ok: ")
    print(f"{len(answered)} answered, {len(interrupted)} interrupted of {len(streams)} requests")
