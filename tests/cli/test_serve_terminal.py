"""What ``ledgergate serve`` writes to its terminal: each drop-in the watcher loads or fails,
and one access line per request (request id, model, status, ms) in the gateway's format."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cli.test_serve_workers import free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_until(check: object, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, f"the gateway exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # polling a subprocess's state, not waiting for a projection


def test_serve_names_watched_dropins_and_logs_one_access_line_per_request(
    tmp_path: Path,
) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERGATE_", "OPENAI_"))}
    env |= {
        "LEDGERGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'log.db'}",
        "LEDGERGATE_MASTER_KEY": "mk-test",
        "LEDGERGATE_AGENTS_DIRS": str(agents),
        "LEDGERGATE_TOOLS_DIRS": str(ROOT / "src" / "tools"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": "Bearer mk-test"}
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=1).status_code == 200, proc, "ready")
        (agents / "hello").mkdir()
        (agents / "hello" / "agent.toml").write_text(
            'model = "gpt-4o-mini"\ninstructions = "Greet."\n', encoding="utf-8"
        )
        (agents / "broken").mkdir()
        (agents / "broken" / "agent.toml").write_text("model = \n", encoding="utf-8")

        def served() -> bool:
            models = httpx.get(f"{base}/v1/models", headers=headers, timeout=5).json()
            return "hello" in {m["id"] for m in models["data"]}

        wait_until(served, proc, "the watcher to load hello")
        body = {"model": "hello", "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        typo = httpx.post(
            f"{base}/v1/chat/completions",
            json={**body, "model": "helo"},
            headers=headers,
            timeout=30,
        )
        assert typo.status_code == 404
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    lines = out.splitlines()
    assert any("loaded drop-in hello (declarative)" in line for line in lines), out
    assert any("failed drop-in" in line and "broken" in line for line in lines), out
    ok = answer.headers["x-request-id"]
    assert [line for line in lines if ok in line and " hello 200 " in line], out
    bad = typo.headers["x-request-id"]
    assert [line for line in lines if bad in line and " helo 404 " in line], out
