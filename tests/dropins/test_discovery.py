"""Discovery: loading fixture drop-ins by path, failures with remediation, reloads, removals."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from app.ports.chat_backend import ChatRequest, TextDelta
from app.ports.request_context import RequestContext
from app.services.recorder import RequestRecorder
from domain.policy import Principal
from tests.dropins.conftest import FIXTURES, copy_root, discovery_events
from tests.dropins.fake_chat import Reply


async def test_scan_loads_good_dropins_with_kinds_entrypoints_and_tools(make_discovery, store):
    discovery = make_discovery(FIXTURES / "good")
    report = await discovery.scan("cli")
    assert report.failed == []
    loaded = {e.name: e for e in report.loaded}
    assert set(loaded) == {"builder", "minimal", "tooly", "triage"}
    assert loaded["builder"].kind == "agent_builder"
    assert loaded["builder"].entrypoint == "run_workflow"
    assert loaded["tooly"].entrypoint == "create_agent()"
    assert loaded["tooly"].tools == ["secret_vault", "weather"]
    assert loaded["triage"].entrypoint == "triage"
    # handoff target's tool and the agent-as-tool are both reachable, so both are governed
    assert loaded["triage"].tools == ["lookup_order", "translate"]
    assert {a.name for a in discovery.registry.all()} == set(loaded)
    types = [t for t, _ in await discovery_events(store)]
    assert types[0] == "discovery.scan_started"
    assert types[-1] == "discovery.scan_completed"
    assert types.count("discovery.agent_loaded") == 4
    completed = (await discovery_events(store))[-1][1]
    assert completed["loaded"] == 4 and completed.get("failed", 0) == 0


async def test_broken_dropins_fail_alone_with_type_and_remediation(make_discovery, store):
    discovery = make_discovery(FIXTURES / "broken", FIXTURES / "good")
    report = await discovery.scan("cli")
    failed = {e.name: e for e in report.failed}
    assert set(failed) == {"hosted", "missing_dep", "no_entry", "two_roots"}
    assert failed["missing_dep"].error_type == "missing_dependency"
    assert failed["missing_dep"].remediation == "pip install ledgergate-not-installed-pkg"
    assert failed["hosted"].error_type == "ungovernable_tool"
    assert "CodeInterpreterTool" in failed["hosted"].message
    assert "use_gateway_tool" in failed["hosted"].remediation
    assert failed["two_roots"].error_type == "ambiguous_entrypoint"
    assert "alpha, beta" in failed["two_roots"].message
    assert "LEDGERGATE_ENTRYPOINT" in failed["two_roots"].remediation
    assert failed["no_entry"].error_type == "no_entrypoint"
    assert {e.name for e in report.loaded} == {"builder", "minimal", "tooly", "triage"}
    completed = (await discovery_events(store))[-1][1]
    assert (completed["loaded"], completed["failed"]) == (4, 4)
    # nothing of the failed modules stays imported
    assert not [m for m in sys.modules if "_ledgergate_dropin_missing_dep" in m]


async def test_root_named_agents_never_shadows_the_sdk(make_discovery):
    discovery = make_discovery(FIXTURES / "agents")
    report = await discovery.scan("cli")
    assert [e.name for e in report.loaded] == ["echo"]
    assert not any(Path(p).name == "agents" for p in sys.path if p.startswith(str(FIXTURES)))
    import agents

    assert hasattr(agents, "Runner")


async def test_changed_file_reloads_removed_unloads_unchanged_is_not_reimported(
    make_discovery, store, tmp_path, fake_chat
):
    root = copy_root(tmp_path, "minimal", "tooly")
    discovery = make_discovery(root)
    await discovery.scan("startup")
    first = discovery.registry.get("minimal")
    assert first is not None

    again = await discovery.scan("watch")
    assert again.unchanged == 2
    assert discovery.registry.get("minimal") is first  # not imported again

    path = root / "minimal" / "agent.py"
    path.write_text(path.read_text().replace("minimal test agent", "changed agent"))
    shutil.rmtree(root / "tooly")
    report = await discovery.scan("watch")
    reloaded = {e.name: e for e in report.loaded}
    assert reloaded["minimal"].reloaded is True
    assert [(u.name, u.reason) for u in report.unloaded] == [("tooly", "removed")]
    assert discovery.registry.get("tooly") is None
    entry = discovery.registry.get("minimal")
    assert entry is not first and entry.digest != first.digest
    # The new code answers: its instructions reach the upstream.
    fake_chat.replies = [Reply(text="hi")]
    ctx = RequestContext(
        request_id="chatcmpl-reload",
        principal=Principal("key-1", "tester", agents=("*",)),
        recorder=RequestRecorder(store, "chatcmpl-reload"),
        agent="minimal",
        tool_manager=discovery.tools,
    )
    request = ChatRequest(model="minimal", messages=[{"role": "user", "content": "hi"}])
    deltas = [d async for d in entry.backend.run(request, ctx)]
    assert "".join(d.content for d in deltas if isinstance(d, TextDelta)) == "hi"
    await ctx.recorder.flush()
    assert "changed agent" in fake_chat.requests[-1]["messages"][0]["content"]


async def test_a_reload_that_breaks_unloads_the_agent_then_reports_the_failure(
    make_discovery, tmp_path
):
    root = copy_root(tmp_path, "minimal")
    discovery = make_discovery(root)
    await discovery.scan("startup")
    (root / "minimal" / "agent.py").write_text("import ledgergate_nope\n")
    report = await discovery.scan("watch")
    assert [(u.name, u.reason) for u in report.unloaded] == [("minimal", "failed_reload")]
    assert [f.error_type for f in report.failed] == ["missing_dependency"]
    assert discovery.registry.get("minimal") is None


async def test_mcp_servers_load_only_when_governed(make_discovery):
    report = await make_discovery(FIXTURES / "mcp").scan("cli")
    assert [(e.name, e.tools) for e in report.loaded] == [("mcp_governed", ["read_file"])]
    [failed] = report.failed
    assert (failed.name, failed.error_type) == ("mcp_open", "ungovernable_tool")
    assert "MCP server 'files'" in failed.message
    assert "gateway_mcp_guardrail" in failed.remediation


async def test_an_agent_with_its_own_model_client_fails_with_remediation(make_discovery):
    report = await make_discovery(FIXTURES / "broken2").scan("cli")
    [failed] = report.failed
    assert (failed.name, failed.error_type) == ("own_model", "ungoverned_model")
    assert "model name string" in failed.remediation


async def test_a_reload_lets_a_running_request_finish_on_the_old_worker_then_stops_it(
    make_discovery, store, tmp_path, fake_chat
):
    root = copy_root(tmp_path, "minimal")
    discovery = make_discovery(root)
    await discovery.scan("startup")
    old = discovery.registry.get("minimal")
    ctx = RequestContext(
        request_id="chatcmpl-old",
        principal=Principal("key-1", "tester", agents=("*",)),
        recorder=RequestRecorder(store, "chatcmpl-old"),
        agent="minimal",
        tool_manager=discovery.tools,
    )
    fake_chat.replies = [Reply(text="old answer")]
    request = ChatRequest(model="minimal", messages=[{"role": "user", "content": "hi"}])
    running = old.backend.run(request, ctx)
    first = await anext(running)  # the run is in flight on the old worker

    path = root / "minimal" / "agent.py"
    path.write_text(path.read_text().replace("minimal test agent", "changed agent"))
    await discovery.scan("watch")
    assert discovery.registry.get("minimal") is not old
    old_worker = old.backend.worker.conn
    assert not old_worker.dead  # retired, not stopped: it still serves the running request

    deltas = [first, *[d async for d in running]]
    await ctx.recorder.flush()
    assert "".join(d.content for d in deltas if isinstance(d, TextDelta)) == "old answer"
    await asyncio.wait_for(old_worker.ended.wait(), 30)  # stopped once its last run ended
    assert old_worker.dead
