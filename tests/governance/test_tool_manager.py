"""ToolManager: every call decided, recorded and answered with text the model can read."""

from __future__ import annotations

import json

from app.services.tools import ToolManager
from domain.events import AclDecided, ToolCompleted, ToolFailed, ToolInvoked
from domain.policy import Principal
from domain.ports import EventStore
from tests.governance.conftest import USER, by_type, serving

CALL = ["acl.decided", "tool.invoked"]


async def test_allowed_call_returns_json_and_records_the_whole_story(
    store: EventStore, manager: ToolManager
) -> None:
    with serving(store, manager) as req:
        out = await manager.call_gateway_tool("add", '{"a": 2, "b": 40}', call_id="call_1")
    assert out == "42"
    events = await req.events()
    assert [e.TYPE for e in events] == [*CALL, "tool.completed"]
    acl = by_type(events, AclDecided)
    assert (acl.subject, acl.action, acl.resource, acl.decision, acl.rule) == (
        "key_user",
        "call_tool",
        "add",
        "allow",
        "key.tools:add",
    )
    assert acl.request_id == req.ctx.request_id and acl.agent == "helper"
    invoked = by_type(events, ToolInvoked)
    assert (invoked.call_id, invoked.tool, invoked.source, invoked.arguments) == (
        "call_1",
        "add",
        "gateway",
        '{"a": 2, "b": 40}',
    )
    done = by_type(events, ToolCompleted)
    assert (done.result, done.outcome, done.source, done.agent) == ("42", "ok", "gateway", "helper")
    assert done.duration_us >= 0


async def test_async_tool_with_defaults_returns_a_json_object(
    store: EventStore, manager: ToolManager
) -> None:
    with serving(store, manager):
        out = await manager.call_gateway_tool("search_docs", '{"query": "keys"}', call_id="c")
    assert json.loads(out) == {"query": "keys", "limit": 3, "hits": []}


async def test_sync_tools_see_the_request_context_in_their_thread(
    store: EventStore, manager: ToolManager
) -> None:
    admin = Principal(key_id="master", name="master", admin=True)
    with serving(store, manager, principal=admin) as req:
        out = await manager.call_gateway_tool("whoami", "{}", call_id="c")
    assert json.loads(out) == {"request_id": req.ctx.request_id}


async def test_denied_by_key(store: EventStore, manager: ToolManager) -> None:
    with serving(store, manager) as req:
        out = await manager.call_gateway_tool("explode", "{}", call_id="c9")
    assert out == (
        "Tool 'explode' is not allowed for this key "
        "(rule key.tools:[add, search_*] (deny by default))."
    )
    events = await req.events()
    assert [e.TYPE for e in events] == [*CALL, "tool.failed"]
    assert by_type(events, AclDecided).decision == "deny"
    failed = by_type(events, ToolFailed)
    assert (failed.outcome, failed.error_type, failed.message) == ("denied", "denied", out)


async def test_denied_by_agent_even_for_admin(store: EventStore, manager: ToolManager) -> None:
    admin = Principal(key_id="master", name="master", admin=True)
    with serving(store, manager, principal=admin, agent_tools=("add",)) as req:
        out = await manager.call_gateway_tool("search_docs", "{}", call_id="c")
    assert out == "Tool 'search_docs' is not allowed for agent 'helper' (rule agent.tools)."
    assert by_type(await req.events(), AclDecided).rule == "agent.tools"


async def test_a_raising_tool_gives_a_clear_message_and_the_next_call_works(
    store: EventStore, manager: ToolManager
) -> None:
    boss = Principal(key_id="k", name="k", tools=("*",))
    with serving(store, manager, principal=boss) as req:
        out = await manager.call_gateway_tool("explode", '{"reason": "disk full"}', call_id="c")
        again = await manager.call_gateway_tool("add", '{"a": 1, "b": 1}', call_id="d")
    assert out == "Tool 'explode' failed: ValueError: disk full"
    assert again == "2"
    events = await req.events()
    assert [e.TYPE for e in events] == [*CALL, "tool.failed", *CALL, "tool.completed"]
    failed = by_type(events, ToolFailed)
    assert (failed.outcome, failed.error_type, failed.message) == ("error", "ValueError", out)


async def test_a_hanging_tool_times_out_and_the_next_call_works(
    store: EventStore, manager: ToolManager
) -> None:
    boss = Principal(key_id="k", name="k", tools=("*",))
    with serving(store, manager, principal=boss) as req:
        out = await manager.call_gateway_tool("hang", "{}", call_id="c")
        out_sync = await manager.call_gateway_tool("hang_sync", "{}", call_id="d")
        again = await manager.call_gateway_tool("add", '{"a": 1, "b": 2}', call_id="e")
    assert out == "Tool 'hang' timed out after 0.2s."
    assert out_sync == "Tool 'hang_sync' timed out after 0.2s."
    assert again == "3"
    failures = [e for e in await req.events() if isinstance(e, ToolFailed)]
    assert [(f.tool, f.outcome, f.error_type) for f in failures] == [
        ("hang", "timeout", "timeout"),
        ("hang_sync", "timeout", "timeout"),
    ]


async def test_an_unserialisable_result_is_an_error_not_a_crash(
    store: EventStore, manager: ToolManager
) -> None:
    boss = Principal(key_id="k", name="k", tools=("*",))
    with serving(store, manager, principal=boss) as req:
        out = await manager.call_gateway_tool("weird", "{}", call_id="c")
        again = await manager.call_gateway_tool("add", '{"a": 0, "b": 0}', call_id="d")
    assert out.startswith("Tool 'weird' returned a value that cannot be converted to JSON: ")
    assert "object" in out
    assert again == "0"
    failed = by_type(await req.events(), ToolFailed)
    assert (failed.outcome, failed.error_type) == ("error", "unserializable_result")


async def test_results_over_the_cap_are_refused(store: EventStore, manager: ToolManager) -> None:
    boss = Principal(key_id="k", name="k", tools=("*",))
    with serving(store, manager, principal=boss) as req:
        out = await manager.call_gateway_tool("huge", "{}", call_id="c")
    assert out == "Tool 'huge' returned 100000 bytes, more than the 1000-byte limit."
    assert by_type(await req.events(), ToolFailed).error_type == "result_too_large"


async def test_bad_arguments_and_unknown_tools(store: EventStore, manager: ToolManager) -> None:
    boss = Principal(key_id="k", name="k", tools=("*",))
    with serving(store, manager, principal=boss) as req:
        missing = await manager.call_gateway_tool("add", '{"a": 1}', call_id="c")
        garbage = await manager.call_gateway_tool("add", "{not json", call_id="d")
        unknown = await manager.call_gateway_tool("nope", "{}", call_id="e")
    assert missing == "Tool 'add' got invalid arguments: b: Field required"
    assert garbage.startswith("Tool 'add' got invalid arguments: ")
    assert unknown == "Tool 'nope' does not exist."
    failures = [e for e in await req.events() if isinstance(e, ToolFailed)]
    assert [f.error_type for f in failures] == [
        "invalid_arguments",
        "invalid_arguments",
        "unknown_tool",
    ]


async def test_a_tool_calling_sys_exit_does_not_stop_the_process(
    store: EventStore, manager: ToolManager
) -> None:
    boss = Principal(key_id="k", name="k", tools=("*",))
    with serving(store, manager, principal=boss) as req:
        out = await manager.call_gateway_tool("quit_process", "{}", call_id="c")
    assert out == "Tool 'quit_process' failed: SystemExit: 3"
    assert by_type(await req.events(), ToolFailed).error_type == "SystemExit"


async def test_outside_a_request_every_call_is_refused(manager: ToolManager) -> None:
    out = await manager.call_gateway_tool("add", '{"a": 1, "b": 1}', call_id="c")
    assert out == "Tool 'add' is not allowed outside a gateway request."


def test_offered_tools_are_exactly_the_callable_ones(manager: ToolManager) -> None:
    names = [s.name for s in manager.offered(USER, ("*",))]
    assert sorted(names) == ["add", "search_docs"]
    assert [s.name for s in manager.offered(USER, ("search_docs", "explode"))] == ["search_docs"]
    assert manager.offered(USER, ()) == []
    nobody = Principal(key_id="n", name="n")
    assert manager.offered(nobody, None) == []


def test_openai_tools_form(manager: ToolManager) -> None:
    spec = manager.get("add")
    assert spec is not None
    [tool] = ToolManager.openai_tools([spec])
    assert tool["type"] == "function"
    fn = tool["function"]
    assert (fn["name"], fn["description"]) == ("add", "Add two integers.")
    assert fn["parameters"]["required"] == ["a", "b"]
    assert fn["parameters"]["properties"]["a"]["type"] == "integer"
    assert fn["parameters"]["properties"]["a"]["description"] == "The first."
    search = manager.get("search_docs")
    assert search is not None and search.description == "Search the docs."
    assert search.parameters["required"] == ["query"]  # optional params stay optional
