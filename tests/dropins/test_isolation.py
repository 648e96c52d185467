"""Hostile drop-ins (issue 14): each is imported in a probe process first and fails alone.

The fixtures under ``tests/fixtures/dropins/hostile`` spin, raise ``KeyboardInterrupt``, start a
busy or a non-daemon thread, patch the Agents SDK or the gateway's policy, ``os._exit`` or
allocate 64 GiB at import time. None of it may reach the gateway's process.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import domain.policy
from tests.dropins.conftest import FIXTURES, discovery_events
from tests.dropins.test_watch_and_cli import REPO, run_scan
from tests.support.fake_upstream import FakeUpstream
from tests.support.live_server import LiveGateway

HOSTILE = FIXTURES / "hostile"
EXPECTED = {
    "busy_thread": "starts_thread",
    "nondaemon_thread": "starts_thread",
    "exits": "import_crashed",
    "hog": "import_memory",
    "interrupt": "import_error",
    "policy_patch": "patches_gateway",
    "sdk_patch": "patches_gateway",
    "spin": "import_timeout",
}
GOOD = {"builder", "minimal", "tooly", "triage"}


async def test_hostile_dropins_fail_alone_and_leave_the_gateway_process_untouched(
    make_discovery, store
):
    import agents
    from agents import function_tool

    decide_tool = domain.policy.decide_tool
    discovery = make_discovery(HOSTILE, FIXTURES / "good", dropin_import_timeout_s=3.0)
    report = await discovery.scan("cli")

    failed = {e.name: e for e in report.failed}
    assert {name: e.error_type for name, e in failed.items()} == EXPECTED
    assert all(e.remediation for e in failed.values())
    assert "domain.policy.decide_tool" in failed["policy_patch"].message
    assert "agents.function_tool" in failed["sdk_patch"].message
    assert "LEDGERGATE_DROPIN_IMPORT_TIMEOUT_S" in failed["spin"].remediation
    assert "LEDGERGATE_DROPIN_MEMORY_LIMIT_MB" in failed["hog"].remediation
    assert "non-daemon" in failed["nondaemon_thread"].message
    assert "interrupt/agent.py" in failed["interrupt"].remediation
    assert {e.name for e in report.loaded} == GOOD
    assert {a.name for a in discovery.registry.all()} == GOOD
    # the gateway's own interpreter saw none of it
    assert agents.function_tool is function_tool
    assert domain.policy.decide_tool is decide_tool
    assert not {t.name for t in threading.enumerate()} & {"busy", "lingering"}
    hostile = [m for m in sys.modules if any(f"_dropin_{n}_" in m for n in EXPECTED)]
    assert hostile == []
    events = [d for t, d in await discovery_events(store) if t == "discovery.dropin_failed"]
    assert {d["name"]: d["error_type"] for d in events} == EXPECTED


def _admin(gw: LiveGateway, path: str, **params: Any) -> Any:
    params["min_position"] = gw.call(gw.services.store.head)
    response = httpx.get(gw.url(path), headers=gw.headers(), params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _wait_for_file(path: Path, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture
def hostile_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(FIXTURES / "good" / "minimal", root / "minimal")
    for name in EXPECTED:
        if name != "spin":
            shutil.copytree(HOSTILE / name, root / name)
    return root


async def test_gateway_serves_other_agents_while_a_dropped_in_spinner_is_probed(
    gateway_factory: Callable[..., LiveGateway],
    fake_upstream: FakeUpstream,
    hostile_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = tmp_path / "spinning"
    monkeypatch.setenv("LEDGERGATE_TEST_SPIN_MARKER", str(marker))
    gw = gateway_factory(
        agents_dirs=[str(hostile_root)], upstream=fake_upstream, dropin_import_timeout_s=8.0
    )
    failed = _admin(gw, "/admin/dropins", state="failed")["dropins"]
    assert {d["name"] for d in failed} == set(EXPECTED) - {"spin"}
    assert all(d["remediation"] for d in failed)

    shutil.copytree(HOSTILE / "spin", hostile_root / "spin")
    scan: dict[str, httpx.Response] = {}
    thread = threading.Thread(
        target=lambda: scan.update(
            done=httpx.post(gw.url("/admin/discovery/scan"), headers=gw.headers(), timeout=120)
        )
    )
    thread.start()
    _wait_for_file(marker)  # the probe is spinning now
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(gw.url("/healthz"))).status_code == 200
        assert (await http.get(gw.url("/readyz"))).status_code == 200
    fake_upstream.text("Still here.")
    async with gw.openai() as client:
        answer = await client.chat.completions.create(
            model="minimal", messages=[{"role": "user", "content": "Are you there?"}]
        )
    assert answer.choices[0].message.content == "Still here."
    thread.join(120)
    assert scan["done"].status_code == 200, scan["done"].text
    spin = _admin(gw, "/admin/dropins", state="failed")["dropins"]
    spin_row = next(d for d in spin if d["name"] == "spin")
    assert spin_row["error_type"] == "import_timeout"
    assert "LEDGERGATE_DROPIN_IMPORT_TIMEOUT_S" in spin_row["remediation"]


def test_scan_cli_with_hostile_dropins_exits_and_lists_each_with_a_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERGATE_DROPIN_IMPORT_TIMEOUT_S", "3")
    done = run_scan(REPO, tmp_path, f"{FIXTURES / 'good'}:{HOSTILE}")
    assert done.returncode == 1, done.stdout + done.stderr
    for name in EXPECTED:
        assert f"FAILED  {name} " in done.stdout
    assert done.stdout.count("        fix: ") == len(EXPECTED)
    assert f"{len(GOOD)} loaded, {len(EXPECTED)} failed" in done.stdout


async def test_hostile_tool_modules_fail_alone_and_the_good_one_serves(
    make_discovery, store, tmp_path
):
    decide_tool = domain.policy.decide_tool
    tools_dir = FIXTURES.parent / "hostile_tools"
    discovery = make_discovery(
        tmp_path / "no-agents", tools_dirs=(str(tools_dir),), dropin_import_timeout_s=3.0
    )
    report = await discovery.scan("cli")

    failed = {e.name: e for e in report.failed}
    assert {name: e.error_type for name, e in failed.items()} == {
        "exit_tools": "import_crashed",
        "patch_tools": "patches_gateway",
        "spin_tools": "import_timeout",
    }
    assert all(e.kind == "tool_module" and e.remediation for e in failed.values())
    assert [(e.name, e.tools) for e in report.loaded] == [("clock", ["utc_now"])]
    assert [s.name for s in discovery.tools.specs()] == ["utc_now"]
    assert domain.policy.decide_tool is decide_tool
    again = await discovery.scan("cli")  # unchanged modules keep their verdict, no new probe
    assert {e.name for e in again.failed} == set(failed)
