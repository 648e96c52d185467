"""``ledgergate serve`` stops on SIGTERM even while a live tail is open (the tail ends itself)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cli.test_serve_workers import ROOT, free_port


def test_sigterm_ends_open_tails_and_the_server(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERGATE_", "OPENAI_"))}
    env |= {
        "LEDGERGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/log.db",
        "LEDGERGATE_MASTER_KEY": "mk-test",
        "LEDGERGATE_AGENTS_DIRS": str(tmp_path),
        "LEDGERGATE_TOOLS_DIRS": str(tmp_path),
        "LEDGERGATE_WATCH_DROPINS": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        headers = {"authorization": "Bearer mk-test"}
        with httpx.stream(
            "GET", f"{base}/admin/events/stream", params={"after": 0}, headers=headers, timeout=60
        ) as tail:
            lines = tail.iter_lines()
            assert next(lines) == ": ledgergate event stream"
            proc.send_signal(signal.SIGTERM)
            rest = list(lines)  # ends when the server ends the response
        assert all(not line.startswith(": keep-alive") for line in rest)
        # uvicorn re-raises the signal once it has shut down gracefully.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        assert proc.stdout is not None
        assert "Application shutdown complete." in proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
