"""Rescans while serving (file watcher) and the ``scan`` command, incl. ``python -m app``."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from app.adapters.discovery.watcher import watch
from tests.dropins.conftest import FIXTURES, copy_root, discovery_events

REPO = Path(__file__).resolve().parents[2]


async def wait_for_event(store, kind: str, name: str, poke: Path, timeout: float = 20.0) -> dict:
    """Block on the log head until a discovery event ``kind`` about ``name`` is recorded.

    The watcher starts asynchronously, so a change made before it watches goes unseen: while
    waiting, ``poke`` is rewritten now and then so that a started watcher always rescans.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pokes = 0
    while True:
        for t, e in await discovery_events(store):
            if t == kind and e.get("name") == name:
                return e
        assert loop.time() < deadline, f"no {kind} for {name}"
        pokes += 1
        await asyncio.to_thread(poke.write_text, str(pokes))
        await store.wait_for(await store.head() + 1, 1.0)


async def test_watcher_loads_a_new_dropin_and_unloads_a_removed_one(
    make_discovery, store, tmp_path
):
    root = copy_root(tmp_path, "minimal")
    discovery = make_discovery(root)
    await discovery.scan("startup")
    stop = asyncio.Event()
    task = asyncio.create_task(watch(discovery, stop))
    try:
        shutil.copytree(FIXTURES / "good" / "tooly", root / "tooly")
        poke = root / "poke.txt"
        loaded = await wait_for_event(store, "discovery.agent_loaded", "tooly", poke)
        assert loaded["kind"] == "sdk"
        assert discovery.registry.get("tooly") is not None
        # A drop-in leaves in one rename, as `mv` does: rmtree deletes file by file, and a scan
        # that lands between two deletions rightly reports a half-removed drop-in as failed.
        (root / "minimal").rename(tmp_path / "minimal-removed")
        unloaded = await wait_for_event(store, "discovery.agent_unloaded", "minimal", poke)
        assert unloaded["reason"] == "removed"
        assert discovery.registry.get("minimal") is None
        starts = [e for t, e in await discovery_events(store) if t == "discovery.scan_started"]
        assert starts[0]["reason"] == "startup" and starts[-1]["reason"] == "watch"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def run_scan(cwd: Path, tmp_path: Path, agents_dirs: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LEDGERGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/log.db",
        "LEDGERGATE_AGENTS_DIRS": agents_dirs,
        "LEDGERGATE_TOOLS_DIRS": str(tmp_path / "no-tools"),
        "PYTHONPATH": str(REPO),
    }
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "app", "scan"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_app_next_to_a_package_named_agents_still_uses_the_sdk(tmp_path):
    shadow = FIXTURES / "shadow"  # holds agents/__init__.py that raises if imported
    done = run_scan(shadow, tmp_path, "src/agents")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loaded  hello" in done.stdout
    assert "1 loaded, 0 failed" in done.stdout


def test_scan_lists_failed_dropins_with_remediation_and_exits_1(tmp_path):
    roots = f"{FIXTURES / 'good'}:{FIXTURES / 'broken'}"
    done = run_scan(REPO, tmp_path, roots)
    assert done.returncode == 1, done.stderr
    assert "FAILED  missing_dep" in done.stdout
    assert "fix: pip install ledgergate-not-installed-pkg" in done.stdout
    assert "FAILED  hosted" in done.stdout and "use_gateway_tool" in done.stdout
    assert "4 loaded, 4 failed" in done.stdout
