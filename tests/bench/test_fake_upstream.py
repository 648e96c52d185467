"""The benchmark's fake upstream is a valid Chat Completions upstream for the real openai client,
and the TTFB load generator and the report read it correctly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import openai
import pytest

from bench import loadgen
from bench.fake_upstream import CONTENT_CHUNKS, Answers, UpstreamProtocol
from bench.loadgen_report import targets_summary


@pytest.fixture
async def fake_port() -> AsyncIterator[int]:
    answers = Answers()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: UpstreamProtocol(answers, 0.0), "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _client(port: int) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="bench", base_url=f"http://127.0.0.1:{port}/v1")


async def test_stream_has_35_chunks_and_usage_on_request(fake_port: int) -> None:
    async with _client(fake_port) as client:
        stream = await client.chat.completions.create(
            model="bench-model",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert len(chunks) == 35 + 1  # role, 33 content, finish, then the usage chunk
    assert chunks[0].choices[0].delta.role == "assistant"
    contents = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert contents == [f"word{i} " for i in range(CONTENT_CHUNKS)]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == CONTENT_CHUNKS


async def test_non_streamed_answer_carries_the_same_text(fake_port: int) -> None:
    async with _client(fake_port) as client:
        completion = await client.chat.completions.create(
            model="bench-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == "".join(
        f"word{i} " for i in range(CONTENT_CHUNKS)
    )
    assert completion.choices[0].finish_reason == "stop"


async def test_loadgen_reads_whole_streams_on_keepalive_connections(fake_port: int) -> None:
    body = json.dumps({"model": "bench-model", "messages": [], "stream": True}).encode()
    samples = await loadgen.run_load(
        "127.0.0.1",
        fake_port,
        "/v1/chat/completions",
        body=body,
        key="k",
        concurrency=2,
        seconds=0.2,
    )
    assert samples.errors == 0
    assert len(samples.ttfb_ns) > 2
    assert all(t <= total for t, total in zip(samples.ttfb_ns, samples.total_ns, strict=True))


def test_report_says_how_far_a_target_is_missed() -> None:
    def row(target: str, mode: str, conns: int, rps: float, p50: float) -> dict[str, object]:
        return {
            "target": target,
            "transport": "" if target == "direct" else target.removeprefix("gateway-"),
            "mode": mode,
            "concurrency": conns,
            "rps": rps,
            "p50_ms": p50,
            "p99_ms": p50 * 2,
            "cpu_ms_per_req": 1.0,
            "peak_rss_mb": 100.0,
        }

    rows = [
        row("direct", "json", 1, 10_000, 0.1),
        row("gateway-stock", "json", 1, 400, 2.1),
        row("gateway-fast", "json", 1, 800, 0.6),
        row("direct", "json", 32, 100_000, 0.2),
        row("gateway-stock", "json", 32, 750, 40.0),
    ]
    checks = {c["name"]: c for c in targets_summary(rows)["targets"]}
    latency = checks["non-streamed added p50, c=1 (stock)"]
    assert latency["met"] is False
    assert latency["value"] == pytest.approx(2.0)
    assert latency["miss_factor"] == 2.0
    assert checks["non-streamed requests/s, c=32 (stock)"]["miss_factor"] == 2.0
    assert checks["peak RSS (stock)"]["met"] is True
    assert checks["non-streamed added p50, c=1 (fast)"]["met"] is True
