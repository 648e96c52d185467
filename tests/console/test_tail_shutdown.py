"""``ledgergate serve`` stops on SIGTERM even while a live tail is open (the tail ends itself)."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.support.serve import ROOT, serve_env, serving


def test_sigterm_ends_open_tails_and_the_server(tmp_path: Path) -> None:
    env = serve_env(
        {
            "LEDGERGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/log.db",
            "LEDGERGATE_MASTER_KEY": "mk-test",
            "LEDGERGATE_AGENTS_DIRS": str(tmp_path),
            "LEDGERGATE_TOOLS_DIRS": str(tmp_path),
            "LEDGERGATE_WATCH_DROPINS": "false",
        }
    )
    with serving(env, ROOT) as server:
        headers = {"authorization": "Bearer mk-test"}
        with httpx.stream(
            "GET",
            f"{server.base}/admin/events/stream",
            params={"after": 0},
            headers=headers,
            timeout=60,
        ) as tail:
            lines = tail.iter_lines()
            assert next(lines) == ": ledgergate event stream"
            server.proc.send_signal(signal.SIGTERM)
            rest = list(lines)  # ends when the server ends the response
        assert all(not line.startswith(": keep-alive") for line in rest)
        # uvicorn re-raises the signal once it has shut down gracefully.
        assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete." in server.stop()
