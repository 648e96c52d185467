"""Hosted tools of an Agent Builder export (``WebSearchTool``, ``FileSearchTool``) on an upstream
that speaks the Responses API (the offline scripted one, which runs them as OpenAI does): offered
to the model only when the key's tool globs allow them, each use in the log as ``acl.decided``
and ``tool.*`` with ``source: "hosted"``, shown only with ``x-ledgergate-show-tools``. An upstream
that speaks only Chat Completions gets a clear remediation instead."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import data, issue_key, wait_for_terminal
from tests.dropins.conftest import FIXTURES
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

ROOTS = [str(FIXTURES / "hosted")]
QUESTION = "Search the web for the Ledgergate release notes."


@pytest.fixture
def gw(gateway_factory: Callable[..., LiveGateway]) -> LiveGateway:
    return gateway_factory(agents_dirs=ROOTS)  # the scripted upstream: both APIs


def _tool_events(logged: list[Any]) -> list[tuple[str, str, str]]:
    out = []
    for event in logged:
        body = data(event)
        if event.type == "acl.decided" and body["action"] == "call_tool":
            out.append((event.type, body["resource"], body["decision"]))
        elif event.type.startswith("tool."):
            out.append((event.type, body["tool"], body["source"]))
    return out


async def test_a_web_search_runs_upstream_and_each_use_is_recorded(gw: LiveGateway) -> None:
    async with gw.openai() as client:
        completion = await client.chat.completions.create(
            model="researcher", messages=[{"role": "user", "content": QUESTION}]
        )
    message = completion.choices[0].message
    assert message.content == f"Searched the web for: {QUESTION}"
    assert not message.tool_calls  # the upstream ran it: never the client's to run
    logged = wait_for_terminal(gw, completion.id)
    assert _tool_events(logged) == [
        ("acl.decided", "web_search", "allow"),
        ("tool.invoked", "web_search", "hosted"),
        ("tool.completed", "web_search", "hosted"),
    ]
    invoked = next(data(e) for e in logged if e.type == "tool.invoked")
    assert json.loads(invoked["arguments"]) == {"type": "search", "query": QUESTION}
    assert invoked["agent"] == "researcher" and invoked["call_id"].startswith("ws_")


async def test_a_key_without_the_hosted_tool_never_offers_it(gw: LiveGateway) -> None:
    secret, _ = issue_key(gw, "narrow", agents=["researcher"], tools=["file_*"])
    async with gw.openai(api_key=secret) as client:
        completion = await client.chat.completions.create(
            model="researcher", messages=[{"role": "user", "content": QUESTION}]
        )
    # Only file_search was offered: the script searched the files, not the web.
    assert completion.choices[0].message.content == f"Searched the files for: {QUESTION}"
    assert _tool_events(wait_for_terminal(gw, completion.id)) == [
        ("acl.decided", "web_search", "deny"),
        ("acl.decided", "file_search", "allow"),
        ("tool.invoked", "file_search", "hosted"),
        ("tool.completed", "file_search", "hosted"),
    ]


async def test_on_the_responses_route_hosted_calls_are_items_only_with_show_tools(
    gw: LiveGateway,
) -> None:
    async with gw.openai() as client:
        hidden = await client.responses.create(model="researcher", input=QUESTION)
        shown = await client.responses.create(
            model="researcher",
            input=QUESTION,
            stream=True,
            extra_headers={"x-ledgergate-show-tools": "true"},
        )
        events = [e async for e in shown]
    assert [o.type for o in hidden.output] == ["message"]
    final = events[-1].response  # type: ignore[union-attr]
    call, message = final.output
    assert (call.type, call.name, call.status) == ("mcp_call", "web_search", "completed")
    assert json.loads(call.arguments)["query"] == QUESTION
    assert message.type == "message" and final.output_text == hidden.output_text


def test_with_chat_completions_only_a_request_gets_the_remediation(
    gateway_factory: Callable[..., LiveGateway],
) -> None:
    # The scripted upstream has a Responses API; the setting forbids calling it.
    gw = gateway_factory(agents_dirs=ROOTS, upstream_api="chat_completions")
    answer = httpx.post(
        f"{gw.base_url}/v1/chat/completions",
        headers={"authorization": f"Bearer {gw.master_key}"},
        json={"model": "researcher", "messages": [{"role": "user", "content": QUESTION}]},
    )
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "hosted_tools_unavailable"
    assert "LEDGERGATE_UPSTREAM_API=auto" in error["message"]
    logged = wait_for_terminal(gw, answer.headers["x-request-id"])
    # No Responses call left the gateway: the one attempted was refused before it was sent.
    [failed] = [data(e) for e in logged if e.type == "upstream.call_failed"]
    assert failed["status"] == 501 and "Responses API" in failed["message"]


def test_an_upstream_without_the_responses_api_gets_a_clear_error(
    gateway_factory: Callable[..., LiveGateway], fake_upstream: FakeUpstream
) -> None:
    gw = gateway_factory(agents_dirs=ROOTS, upstream=fake_upstream)  # auto; no /responses
    answer = httpx.post(
        f"{gw.base_url}/v1/chat/completions",
        headers={"authorization": f"Bearer {gw.master_key}"},
        json={"model": "researcher", "messages": [{"role": "user", "content": QUESTION}]},
    )
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "hosted_tools_unavailable"
    assert "Responses API" in error["message"] and "WebSearchTool" in error["message"]


async def test_a_hand_written_agent_shows_its_search_only_to_a_show_tools_client(
    gw: LiveGateway,
) -> None:
    messages: Any = [{"role": "user", "content": QUESTION}]
    async with gw.openai() as client:
        plain = await client.chat.completions.create(
            model="searcher", messages=messages, stream=True
        )
        hidden = [c async for c in plain]
        shown = await client.chat.completions.create(
            model="searcher",
            messages=messages,
            stream=True,
            extra_headers={"x-ledgergate-show-tools": "true"},
        )
        chunks = [c async for c in shown]

    def notices(chunks: list[Any]) -> list[dict[str, Any]]:
        extras = [c.choices[0].delta.model_extra or {} for c in chunks if c.choices]
        return [e["ledgergate_tool_call"] for e in extras if "ledgergate_tool_call" in e]

    assert notices(hidden) == []
    [notice] = notices(chunks)
    assert (notice["name"], notice["status"]) == ("web_search", "completed")
    assert json.loads(notice["arguments"])["query"] == QUESTION
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Searched the web for: {QUESTION}"
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)
