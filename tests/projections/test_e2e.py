"""End to end on a real gateway: the admin snapshot, /metrics and replay against the log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.cli import main as cli_main
from domain import events as ev
from tests.projections.factory import chat_request, new, scan
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

MSG = [{"role": "user", "content": "What is the weather in Paris and in Rome?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
]


def _append(gw: LiveGateway, stream: str, events: list[ev.Event]) -> int:
    positions = gw.call(gw.services.store.append, stream, [new(e) for e in events])
    return int(positions[-1])


def _get(gw: LiveGateway, path: str, key: str | None = None, **params: Any) -> httpx.Response:
    return httpx.get(gw.url(path), headers=gw.headers(key), params=params, timeout=30)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation, family.name  # HELP text for every family
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **match: str
) -> float:
    return sum(
        v
        for (n, labels), v in samples.items()
        if n == name and all(dict(labels).get(k) == w for k, w in match.items())
    )


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings overrides for the read models' database: SQLite (default) or PostgreSQL."""
    if request.param == "postgres":
        return {"database_url": request.getfixturevalue("pg_url")}
    return {}


def test_admin_snapshot_and_metrics_agree_on_the_same_log(
    gateway_factory: Callable[..., LiveGateway], backend: dict[str, str]
) -> None:
    gw = gateway_factory(**backend)
    _append(gw, "discovery:test", scan("t1", ["weather"], ["broken", "worse"]))
    for n, (outcome, tools) in enumerate(
        [
            ("completed", [("get_weather", "ok"), ("get_weather", "timeout")]),
            ("failed", []),
            ("completed", [("rm_rf", "denied")]),
            ("cancelled", [("get_weather", "error")]),
        ]
    ):
        rid = f"chatcmpl-t{n}"
        _append(
            gw,
            ev.request_stream(rid),
            chat_request(
                rid,
                outcome=outcome,
                tools=tools,
                key_id=f"key-{n % 2}",
                duration_us=50_000 * (n + 1),
            ),
        )
    head = gw.call(gw.services.store.head)
    assert _get(gw, "/admin/metrics").status_code == 200
    assert _get(gw, "/admin/metrics", key="nope").status_code == 401
    assert httpx.get(gw.url("/metrics")).status_code == 401
    snap = _get(gw, "/admin/metrics", min_position=head).json()
    exposition = _get(gw, "/metrics", min_position=head)
    assert exposition.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = exposition.text
    samples = _samples(text)
    assert snap["log"]["head"] == head and snap["log"]["events"] == head
    assert all(p["lag"] == 0 and p["running"] for p in snap["projections"])
    assert _total(samples, "ledgergate_projection_lag_events") == 0
    req = snap["requests"]
    assert req["by_status"]["completed"] == 2 and req["by_status"]["failed"] == 1
    for status, count in req["by_status"].items():
        assert _total(samples, "ledgergate_requests_total", status=status) == count
    assert _total(samples, "ledgergate_tokens_total", type="prompt") == req["prompt_tokens"]
    assert (
        _total(samples, "ledgergate_tokens_total", type="completion") == (req["completion_tokens"])
    )
    assert (
        _total(samples, "ledgergate_request_duration_seconds_count") == (req["duration"]["count"])
    )
    assert _total(samples, "ledgergate_request_duration_seconds_sum") == pytest.approx(
        req["duration"]["mean_ms"] * req["duration"]["count"] / 1000
    )
    for tool in snap["tools"]["totals"]:
        for outcome, field in (
            ("ok", "ok"),
            ("error", "errors"),
            ("denied", "denials"),
            ("timeout", "timeouts"),
        ):
            assert (
                _total(samples, "ledgergate_tool_calls_total", tool=tool["tool"], outcome=outcome)
                == tool[field]
            )
    assert {t["tool"]: t["calls"] for t in snap["tools"]["totals"]} == {
        "get_weather": 3,
        "rm_rf": 1,
    }
    disc = snap["discovery"]
    assert disc["failed"] == 2 and "weather" in disc["agents"]
    assert _total(samples, "ledgergate_dropins", state="failed") == disc["failed"]
    assert _total(samples, "ledgergate_dropin_failed", error_type="import_error") == 2
    assert _total(samples, "ledgergate_dropin_failures_total") == sum(
        disc["failures_by_type"].values()
    )
    assert (
        _total(samples, "ledgergate_acl_decisions_total", decision="allow")
        == (snap["acl"]["allow"])
    )
    assert _total(samples, "ledgergate_events_total") == head
    assert _total(samples, "ledgergate_log_head_position") == head
    # The list pages, newest first; filters narrow it.
    page = _get(gw, "/admin/requests", limit=2).json()
    assert [r["request_id"] for r in page["requests"]] == ["chatcmpl-t3", "chatcmpl-t2"]
    rest = _get(gw, "/admin/requests", limit=10, before=page["next_before"]).json()
    assert [r["request_id"] for r in rest["requests"]][:2] == ["chatcmpl-t1", "chatcmpl-t0"]
    failed = _get(gw, "/admin/requests", status="failed").json()["requests"]
    assert [r["request_id"] for r in failed] == ["chatcmpl-t1"]
    tools = _get(gw, "/admin/tools", tool="get_weather").json()
    assert [t["timeouts"] for t in tools["breakdown"]] == [1]
    dropins = _get(gw, "/admin/dropins", state="failed").json()["dropins"]
    assert {d["name"] for d in dropins} == {"broken", "worse"}
    assert all(d["remediation"] and d["failure_count"] == 1 for d in dropins)
    events = _get(gw, "/admin/events", after=1, limit=3).json()
    assert [e["position"] for e in events["events"]] == [2, 3, 4] and events["next_after"] == 4
    only = _get(gw, "/admin/events", stream="request:chatcmpl-t1", type="request.failed").json()
    assert [e["type"] for e in only["events"]] == ["request.failed"]
    assert only["events"][0]["data"]["status"] == 502 and len(only["events"][0]["hash"]) == 64
    assert _get(gw, "/admin/requests/chatcmpl-nope").status_code == 404
    ready = httpx.get(gw.url("/readyz")).json()
    assert ready["projections"]["running"] is True


async def test_replay_equals_what_the_openai_client_received(
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    fake_upstream.tool_calls(
        ("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}), text="Let me check."
    )
    fake_upstream.text("Sunny in Paris, rain in Rome.", chunks=5)
    gw = gateway_factory(upstream=fake_upstream)
    async with gw.openai() as client:
        async with client.chat.completions.stream(
            model="gpt-test",
            messages=MSG,
            tools=TOOLS,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        ) as stream:
            final = await stream.get_final_completion()
        assembled = final.choices[0].message
        async with httpx.AsyncClient(timeout=30) as http:  # the exact chunks on the wire
            wire = await http.post(
                gw.url("/v1/chat/completions"),
                headers=gw.headers(),
                json={"model": "gpt-test", "messages": MSG, "stream": True},
            )
    frames = [f for f in wire.content.split(b"\n\n") if f]
    assert frames[-1] == b"data: [DONE]"
    sent = [msgspec.json.decode(f.removeprefix(b"data: ")) for f in frames[:-1]]

    first = _get(gw, f"/admin/requests/{final.id}").json()
    assert first["status"] == "completed" and first["input"]["tools"] == TOOLS
    assert first["answer"]["content"] == assembled.content == "Let me check."
    assert [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in first["answer"]["tool_calls"]
    ] == [(c.id, c.function.name, c.function.arguments) for c in assembled.tool_calls or []]
    assert [
        msgspec.json.decode(c["function"]["arguments"]) for c in first["answer"]["tool_calls"]
    ] == [{"city": "Paris"}, {"city": "Rome"}]
    assert first["usage"]["total_tokens"] == final.usage.total_tokens  # type: ignore[union-attr]
    assert [a["decision"] for a in first["acl"]] == ["allow"]
    assert [u["outcome"] for u in first["upstream_calls"]] == ["completed"]

    second_id = wire.headers["x-request-id"]
    second = _get(gw, f"/admin/requests/{second_id}").json()
    assert second["chunks"] == sent  # every chunk, member for member
    assert second["answer"] == {"role": "assistant", "content": "Sunny in Paris, rain in Rome."}

    # The CLI tells the same story from the same log.
    url = gw.settings.database_url
    assert await asyncio.to_thread(cli_main, ["replay", second_id, "--database-url", url]) == 0
    assert msgspec.json.decode(capsysbinary.readouterr().out) == second
    missing = ["replay", "chatcmpl-missing", "--database-url", url]
    assert await asyncio.to_thread(cli_main, missing) == 1
