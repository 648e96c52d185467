"""A tool that hangs cannot starve the others: each tool's share of threads is bounded."""

from __future__ import annotations

import asyncio
import threading

from app.services.tools import ToolManager
from domain.events import ToolCompleted, ToolFailed
from domain.policy import Principal
from domain.ports import EventStore
from tests.governance.conftest import serving

ADMIN = Principal(key_id="master", name="master", admin=True)


async def test_twenty_hung_sync_calls_leave_threads_for_other_tools(
    store: EventStore, manager: ToolManager
) -> None:
    assert manager.max_concurrency == 4  # the default, LEDGERGATE_TOOL_MAX_CONCURRENCY
    with serving(store, manager, principal=ADMIN) as req:
        outs = await asyncio.gather(
            *(manager.call_gateway_tool("hang_sync", "{}", call_id=f"h{i}") for i in range(20))
        )
        assert outs.count("Tool 'hang_sync' timed out after 0.2s.") == 4
        busy = [o for o in outs if "busy" in o]
        assert len(busy) == 16 and "4 earlier calls" in busy[0]
        # Other tools still get threads (the pool has 16), and answer.
        assert await manager.call_gateway_tool("add", '{"a": 1, "b": 2}', call_id="a") == "3"
        assert await manager.call_gateway_tool("whoami", "{}", call_id="w") != ""
    events = await req.events()
    failed = [e for e in events if isinstance(e, ToolFailed)]
    assert sorted({(e.outcome, e.error_type) for e in failed}) == [
        ("error", "tool_busy"),
        ("timeout", "timeout"),
    ]
    assert [e.tool for e in events if isinstance(e, ToolCompleted)] == ["add", "whoami"]


async def test_hung_sdk_tool_calls_are_bounded_and_counted_until_they_return(
    store: EventStore,
) -> None:
    manager = ToolManager(timeout_s=0.2, max_concurrency=2)
    release = threading.Event()

    def stuck() -> str:
        release.wait(60)
        return "late"

    async def invoke() -> str:  # what the SDK does for a sync function tool
        return await asyncio.to_thread(stuck)

    try:
        with serving(store, manager, principal=ADMIN):
            outs = await asyncio.gather(
                *(
                    manager.call_sdk_tool("stuck", "{}", call_id=f"s{i}", invoke=invoke)
                    for i in range(6)
                )
            )
            assert outs.count("Tool 'stuck' timed out after 0.2s.") == 2
            assert sum("busy" in o for o in outs) == 4
            # Still stuck after the timeout: still refused.
            again = await manager.call_sdk_tool("stuck", "{}", call_id="s7", invoke=invoke)
            assert "busy" in again
            release.set()  # the threads return: the tool may run again
            for _ in range(100):
                if manager.running("stuck") == 0:
                    break
                await asyncio.sleep(0.01)
            ok = await manager.call_sdk_tool("stuck", "{}", call_id="s8", invoke=invoke)
            assert ok == "late"
    finally:
        release.set()
        manager.close()
