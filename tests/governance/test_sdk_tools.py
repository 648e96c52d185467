"""SDK tools under the same governance: ``use_gateway_tool`` and a drop-in's own function tools."""

from __future__ import annotations

import json

import pytest
from agents.tool_context import ToolContext

from agents import FunctionTool, RunConfig, function_tool
from app.dropin import (
    govern_function_tool,
    is_gateway_tool,
    tool_error_formatter,
    use_gateway_tool,
)
from app.services.agents import DropinError
from app.services.tools import ToolManager
from domain.events import AclDecided, ToolCompleted, ToolFailed, ToolInvoked
from domain.policy import Principal
from domain.ports import EventStore
from tests.governance.conftest import by_type, serving


def tool_ctx(tool: FunctionTool, call_id: str, arguments: str) -> ToolContext[None]:
    """A tool context as the gateway's runs make it (with their RunConfig)."""
    return ToolContext(
        None,
        tool_name=tool.name,
        tool_call_id=call_id,
        tool_arguments=arguments,
        run_config=RunConfig(tool_error_formatter=tool_error_formatter()),
    )


async def run_tool(tool: FunctionTool, arguments: str, call_id: str = "call_x") -> object:
    return await tool.on_invoke_tool(tool_ctx(tool, call_id, arguments), arguments)


async def test_use_gateway_tool_has_the_gateway_schema_and_runs_governed(
    store: EventStore, manager: ToolManager
) -> None:
    tool = use_gateway_tool("add")
    spec = manager.get("add")
    assert spec is not None
    assert (tool.name, tool.description, tool.params_json_schema) == (
        "add",
        spec.description,
        spec.parameters,
    )
    assert is_gateway_tool(tool)
    with serving(store, manager) as req:
        out = await run_tool(tool, '{"a": 20, "b": 22}', "call_7")
    assert out == "42"
    events = await req.events()
    assert [e.TYPE for e in events] == ["acl.decided", "tool.invoked", "tool.completed"]
    assert by_type(events, ToolInvoked).call_id == "call_7"
    assert by_type(events, ToolCompleted).source == "gateway"


def test_use_gateway_tool_fails_clearly_for_an_unknown_name(manager: ToolManager) -> None:
    with pytest.raises(DropinError) as err:
        use_gateway_tool("no_such_tool")
    assert err.value.error_type == "unknown_gateway_tool"
    assert "no_such_tool" in err.value.message
    assert "LEDGERGATE_TOOLS_DIRS" in err.value.remediation


async def test_an_sdk_function_tool_is_governed_with_source_sdk(
    store: EventStore, manager: ToolManager
) -> None:
    @function_tool
    def lookup(city: str) -> dict[str, str]:
        """Look a city up."""
        return {"city": city, "country": "FR"}

    govern_function_tool(lookup)
    govern_function_tool(lookup)  # idempotent: wrapped once
    sdk_user = Principal(key_id="key_sdk", name="sdk", tools=("lookup",))
    with serving(store, manager, principal=sdk_user, agent="travel") as req:
        out = await run_tool(lookup, '{"city": "Paris"}')
    assert isinstance(out, str)
    assert json.loads(out) == {"city": "Paris", "country": "FR"}
    events = await req.events()
    assert [e.TYPE for e in events] == ["acl.decided", "tool.invoked", "tool.completed"]
    done = by_type(events, ToolCompleted)
    assert (done.source, done.agent, done.tool) == ("sdk", "travel", "lookup")


async def test_a_denied_sdk_tool_never_runs(store: EventStore, manager: ToolManager) -> None:
    ran: list[str] = []

    @function_tool
    def delete_everything() -> str:
        """Dangerous."""
        ran.append("yes")
        return "deleted"

    govern_function_tool(delete_everything)
    with serving(store, manager, agent="travel") as req:
        out = await run_tool(delete_everything, "{}")
    assert ran == []
    assert out == (
        "Tool 'delete_everything' is not allowed for this key "
        "(rule key.tools:[add, search_*] (deny by default))."
    )
    events = await req.events()
    assert by_type(events, AclDecided).decision == "deny"
    failed = by_type(events, ToolFailed)
    assert (failed.source, failed.outcome) == ("sdk", "denied")


async def test_call_sdk_tool_times_out_and_reports_raised_errors(
    store: EventStore, manager: ToolManager
) -> None:
    async def slow() -> str:
        import asyncio

        await asyncio.sleep(3600)
        return "never"

    async def broken() -> str:
        raise KeyError("missing")

    boss = Principal(key_id="k", name="k", tools=("*",))
    with serving(store, manager, principal=boss) as req:
        timed = await manager.call_sdk_tool("slow", "{}", call_id="a", invoke=slow, timeout_s=0.1)
        failed = await manager.call_sdk_tool("broken", "{}", call_id="b", invoke=broken)
    assert timed == "Tool 'slow' timed out after 0.1s."
    assert failed == "Tool 'broken' failed: KeyError: 'missing'"
    failures = [e for e in await req.events() if isinstance(e, ToolFailed)]
    assert [(f.source, f.outcome, f.error_type) for f in failures] == [
        ("sdk", "timeout", "timeout"),
        ("sdk", "error", "KeyError"),
    ]


async def test_an_sdk_function_tool_that_raises_is_recorded_as_failed(
    store: EventStore, manager: ToolManager
) -> None:
    @function_tool
    def flaky(city: str) -> str:
        """Always fails."""
        raise ValueError(f"no data for {city}")

    govern_function_tool(flaky)
    boss = Principal(key_id="k", name="k", tools=("*",))
    with serving(store, manager, principal=boss, agent="travel") as req:
        out = await run_tool(flaky, '{"city": "Lima"}')
        bad_json = await run_tool(flaky, "{not json")
    assert out == "Tool 'flaky' failed: ValueError: no data for Lima"
    assert isinstance(bad_json, str) and "error" in bad_json.lower()  # the SDK's own message
    failed = by_type(await req.events(), ToolFailed)
    assert (failed.source, failed.outcome, failed.error_type) == ("sdk", "error", "ValueError")
