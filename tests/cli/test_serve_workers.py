"""``ledgergate serve --workers 2`` as a user runs it: one recovery sweep, both workers serving."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from app.adapters.eventstore import open_event_store
from app.ids import uuid7
from app.settings import Settings
from domain.events import RequestReceived
from domain.ports import NewEvent, RecordedEvent
from tests.support.serve import ROOT, serve_env, serving


async def seed_unfinished(url: str, request_id: str) -> None:
    store = await open_event_store(Settings(database_url=url))
    try:
        received = RequestReceived(
            request_id=request_id, key_id="k", model="m", stream=False, target="upstream", body={}
        )
        await store.append(f"request:{request_id}", [NewEvent.of(received, uuid7())])
    finally:
        await store.close()


async def read_stream(url: str, stream: str) -> list[RecordedEvent]:
    store = await open_event_store(Settings(database_url=url))
    try:
        return await store.read_stream(stream)
    finally:
        await store.close()


def test_serve_with_two_workers_ends_an_unfinished_request_once_and_serves(
    tmp_path: Path,
) -> None:
    db = tmp_path / "log.db"
    url = f"sqlite+aiosqlite:///{db}"
    asyncio.run(seed_unfinished(url, "crashed"))
    env = serve_env(
        {
            "LEDGERGATE_DATABASE_URL": url,
            "LEDGERGATE_MASTER_KEY": "mk-test",
            "LEDGERGATE_AGENTS_DIRS": str(ROOT / "src" / "agents"),
            "LEDGERGATE_TOOLS_DIRS": str(ROOT / "src" / "tools"),
            "LEDGERGATE_WATCH_DROPINS": "false",
        }
    )
    with serving(env, tmp_path, "--workers", "2") as server:
        headers = {"Authorization": "Bearer mk-test"}
        body = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(6):  # spread over both workers by the kernel
            answer = httpx.post(
                f"{server.base}/v1/chat/completions", json=body, headers=headers, timeout=30
            )
            assert answer.status_code == 200, answer.text
    assert "marked 1 unfinished request(s) as request.interrupted" in (server.output or "")
    types = [e.type for e in asyncio.run(read_stream(url, "request:crashed"))]
    assert types == ["request.received", "request.interrupted"]  # ended once, not per worker
