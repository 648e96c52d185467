"""Drop-ins that misbehave while serving (issue 14): each hurts only its own worker process.

The fixtures under ``tests/fixtures/dropins/hostile_runtime`` import cleanly, then a tool ends
its process, starts a busy thread, patches the SDK and the gateway's policy, or blocks forever
(in a thread, or on the worker's event loop). Each drop-in runs in its own worker (ADR 0010):
the gateway keeps serving every other agent and keeps governing, a worker that dies ends its
request with one terminal event and the next request gets a fresh one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import domain.policy
from tests.api.conftest import data, issue_key, types_of, wait_for_terminal
from tests.dropins.conftest import FIXTURES
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.live_server import LiveGateway

RUNTIME = FIXTURES / "hostile_runtime"
TERMINAL = ("request.completed", "request.failed", "request.cancelled", "request.interrupted")


@pytest.fixture
def gw(gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream) -> LiveGateway:
    return gateway_factory(
        agents_dirs=[str(RUNTIME), str(FIXTURES / "good")],
        upstream=fake_upstream,
        tool_timeout_s=1.0,
        tool_max_concurrency=2,
        dropin_ping_interval_s=0.2,
        dropin_hang_timeout_s=2.0,
    )


def ask(gw: LiveGateway, model: str, key: str | None = None) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "Go."}]}
    return httpx.post(
        gw.url("/v1/chat/completions"), headers=gw.headers(key), json=body, timeout=60
    )


def stream(gw: LiveGateway, model: str, messages: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """A streamed request's id and every SSE ``data`` payload but ``[DONE]``."""
    body = {"model": model, "messages": messages, "stream": True}
    url = gw.url("/v1/chat/completions")
    with httpx.stream("POST", url, headers=gw.headers(), json=body, timeout=60) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    return request_id, [json.loads(line[6:]) for line in lines if line != "data: [DONE]"]


def terminals(events: list[Any]) -> list[Any]:
    return [e for e in events if e.type in TERMINAL]


def test_a_worker_killed_mid_stream_ends_the_request_once_and_the_next_gets_a_fresh_one(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.tool_calls(("leave", {}), text="Leaving now.")
    request_id, payloads = stream(gw, "leaves", [{"role": "user", "content": "Go."}])
    text = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads[:-1])
    assert text == "Leaving now."  # streamed before the tool ended the worker
    assert payloads[-1]["error"]["code"] == "dropin_crashed"
    events = wait_for_terminal(gw, request_id)
    (terminal,) = terminals(events)
    assert types_of(events)[-1] == "request.failed"
    assert (data(terminal)["status"], data(terminal)["code"]) == (502, "dropin_crashed")
    failed = [data(e) for e in events if e.type == "tool.failed"]
    assert [(f["tool"], f["error_type"]) for f in failed] == [("leave", "dropin_crashed")]

    fake_upstream.text("Back again.")
    again = ask(gw, "leaves")
    assert again.status_code == 200, again.text
    assert again.json()["choices"][0]["message"]["content"] == "Back again."


def test_runtime_patches_and_busy_threads_stay_in_their_worker_and_policy_holds(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    import agents
    from agents import function_tool

    decide_tool = domain.policy.decide_tool
    key, _ = issue_key(gw, "limited", agents=["*"], tools=["patch", "spin_up", "weather"])

    fake_upstream.tool_calls(("spin_up", {}))
    fake_upstream.text("Spinning.")
    assert ask(gw, "busy", key).json()["choices"][0]["message"]["content"] == "Spinning."

    fake_upstream.tool_calls(("patch", {}), ("secret", {}))
    fake_upstream.text("Done.")
    patched = ask(gw, "patcher", key)
    assert patched.status_code == 200, patched.text
    events = wait_for_terminal(gw, patched.json()["id"])
    acl = [data(e) for e in events if e.type == "acl.decided" and data(e)["action"] == "call_tool"]
    # The worker replaced its own decide_tool: the decisions are the gateway's, and hold.
    assert [(a["resource"], a["decision"]) for a in acl] == [("patch", "allow"), ("secret", "deny")]
    assert (
        fake_upstream.requests[-1]
        .body["messages"][-1]["content"]
        .startswith("Tool 'secret' is not allowed")
    )

    # The gateway's interpreter saw none of it, and every other agent is served and governed.
    assert domain.policy.decide_tool is decide_tool
    assert agents.function_tool is function_tool
    assert "busy" not in {t.name for t in threading.enumerate()}
    fake_upstream.tool_calls(("secret_vault", {"item": "x"}))
    fake_upstream.text("No.")
    other = ask(gw, "tooly", key)
    assert other.json()["choices"][0]["message"]["content"] == "No."
    events = wait_for_terminal(gw, other.json()["id"])
    acl = [data(e) for e in events if e.type == "acl.decided" and data(e)["action"] == "call_tool"]
    assert [(a["resource"], a["decision"]) for a in acl] == [("secret_vault", "deny")]


def test_hung_tools_time_out_then_are_refused_and_a_frozen_worker_is_killed_and_replaced(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    for _ in range(2):  # two calls that never return: each times out and keeps its slot
        fake_upstream.tool_calls(("wait_forever", {}))
        fake_upstream.text("Gave up.")
        answer = ask(gw, "blocks")
        assert answer.json()["choices"][0]["message"]["content"] == "Gave up."
        events = wait_for_terminal(gw, answer.json()["id"])
        failed = [data(e) for e in events if e.type == "tool.failed"]
        assert [(f["tool"], f["outcome"]) for f in failed] == [("wait_forever", "timeout")]
    fake_upstream.tool_calls(("wait_forever", {}))
    fake_upstream.text("Busy, then.")
    refused = ask(gw, "blocks")
    events = wait_for_terminal(gw, refused.json()["id"])
    (failed_call,) = [data(e) for e in events if e.type == "tool.failed"]
    assert failed_call["error_type"] == "tool_busy"
    assert "2 earlier calls have not finished" in failed_call["message"]

    # Meanwhile the gateway answers, rescans and serves every other agent.
    assert httpx.get(gw.url("/healthz"), timeout=10).status_code == 200
    scan = httpx.post(gw.url("/admin/discovery/scan"), headers=gw.headers(), timeout=60)
    assert scan.status_code == 200, scan.text
    fake_upstream.text("Still here.")
    assert ask(gw, "minimal").json()["choices"][0]["message"]["content"] == "Still here."

    # A tool that blocks the worker's event loop: the worker misses its pings and is killed.
    fake_upstream.tool_calls(("freeze", {}))
    frozen = ask(gw, "blocks")
    assert frozen.status_code == 502, frozen.text
    assert frozen.json()["error"]["code"] == "dropin_crashed"
    assert gw.services.tools.running("wait_forever") == 0  # its stuck calls died with it
    fake_upstream.text("Fresh.")
    assert ask(gw, "blocks").json()["choices"][0]["message"]["content"] == "Fresh."


def test_a_worker_that_keeps_dying_is_a_failed_dropin_with_a_remediation(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    for _ in range(5):
        fake_upstream.tool_calls(("leave", {}))
        crashed = ask(gw, "leaves")
        assert crashed.status_code == 502 and crashed.json()["error"]["code"] == "dropin_crashed"
    store = gw.services.store
    deadline = time.monotonic() + 30
    while True:  # the fifth death is judged when the worker's end is seen: wait for the log
        found = [
            data(e)
            for e in gw.call(store.read_all, 0, 100_000)
            if e.type == "discovery.dropin_failed" and data(e)["name"] == "leaves"
        ]
        if found or time.monotonic() > deadline:
            break
        gw.call(store.wait_for, gw.call(store.head) + 1, 1.0)
    assert [f["error_type"] for f in found] == ["worker_crashed"]
    assert "os._exit" in found[0]["remediation"]
    refused = ask(gw, "leaves")
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "dropin_unavailable"
    fake_upstream.text("Fine.")
    assert ask(gw, "minimal").json()["choices"][0]["message"]["content"] == "Fine."


def test_a_2048_message_request_to_an_sdk_agent_leaves_the_gateway_answering(
    gw: LiveGateway, fake_upstream: FakeUpstream
) -> None:
    """Issue 11 item 8: the history is converted in the worker, never on the gateway's loop."""
    fake_upstream.push(Reply("text", text="one two three", chunks=3, hold_after=1))
    messages = [{"role": "user", "content": f"message {i}"} for i in range(2048)]
    body = {"model": "minimal", "messages": messages, "stream": True}
    url = gw.url("/v1/chat/completions")
    with httpx.stream("POST", url, headers=gw.headers(), json=body, timeout=60) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert "choices" in first
        # The run is in flight (its model call held open by the upstream): /healthz answers.
        health = httpx.get(gw.url("/healthz"), timeout=10)
        running = [e.type for e in gw.call(gw.services.store.read_all, 0, 100_000)]
        assert health.status_code == 200
    events = wait_for_terminal(gw, request_id)
    assert types_of(events)[-1] == "request.cancelled"  # the client left after /healthz
    assert "request.cancelled" not in running
    sent = fake_upstream.requests[-1].body["messages"]
    assert len(sent) == 2049 and sent[-1] == {"role": "user", "content": "message 2047"}
