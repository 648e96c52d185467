"""Disk full, a read-only log: 503 with Retry-After, not ready, and the gateway recovers alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.adapters.eventstore import open_event_store
from app.adapters.eventstore.export import verify
from app.settings import Settings
from tests.support.live_server import LiveGateway

ROOT = Path(__file__).resolve().parents[2]
BODY = {"model": "assistant-missing", "messages": [{"role": "user", "content": "hi"}]}


def _on_writer(gw: LiveGateway, sql: str) -> list[Any]:
    """Run ``sql`` on the store's own write connection (the fault, as SQLite itself reports it)."""
    store = gw.services.store

    async def run() -> list[Any]:
        rows: list[Any] = await store._on_writer(lambda: store._w.conn.execute(sql).fetchall())
        return rows

    return gw.call(run)


def _chat(gw: LiveGateway, model: str = "gpt-4o-mini") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers(), timeout=30)


def _wait_ready(gw: LiveGateway, timeout: float = 15.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        ready = httpx.get(gw.url("/readyz"))
        if ready.status_code == 200 or time.monotonic() > deadline:
            return ready
        gw.call(gw.services.store.wait_for, 10**9, 0.1)  # a short wait on the log, not a sleep


@pytest.mark.parametrize(
    ("fault", "heal", "reason"),
    [
        ("PRAGMA query_only = 1", "PRAGMA query_only = 0", "read-only"),
        ("PRAGMA max_page_count = {pages}", "PRAGMA max_page_count = 4294967294", "disk is full"),
    ],
    ids=["read-only", "disk-full"],
)
def test_a_log_that_cannot_be_written_answers_503_and_recovers(
    gateway_factory: Callable[..., LiveGateway], fault: str, heal: str, reason: str
) -> None:
    gw = gateway_factory(upstream_models=("*",))
    assert _chat(gw).status_code == 200
    store = gw.services.store
    pages = _on_writer(gw, "PRAGMA page_count")[0][0]
    _on_writer(gw, fault.format(pages=pages))
    head = gw.call(store.head)
    for _ in range(3):
        # Big enough to need new pages.
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 20_000}]}
        response = httpx.post(
            gw.url("/v1/chat/completions"), json=body, headers=gw.headers(), timeout=30
        )
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"].isdigit()
        error = response.json()["error"]
        assert error["code"] == "log_unavailable" and reason in error["message"]
    ready = httpx.get(gw.url("/readyz"))
    assert ready.status_code == 503 and ready.json()["status"] == "log_unavailable"
    assert ready.headers["retry-after"].isdigit()
    # Still not ready after the store's probe has run (it runs every second while unavailable).
    gw.call(store.wait_for, 10**9, 2.5)  # a wait on the log, not a sleep
    assert httpx.get(gw.url("/readyz")).status_code == 503
    assert httpx.get(gw.url("/healthz")).status_code == 200
    _on_writer(gw, heal)
    assert _wait_ready(gw).status_code == 200
    ok = _chat(gw)
    assert ok.status_code == 200, ok.text
    assert gw.call(store.head) > head
    assert gw.call(verify, store).ok


def _read_only_run(
    db: Path, command: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with ``db``'s folder on a read-only mount (read-only modes as non-root)."""
    folder = str(db.parent)
    if os.geteuid() != 0:
        os.chmod(db, 0o444)
        os.chmod(folder, 0o555)
        try:
            return subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        finally:
            os.chmod(folder, 0o755)
    unshare = shutil.which("unshare")
    probe = (
        subprocess.run(
            [unshare or "unshare", "--user", "--map-root-user", "--mount", "true"],
            capture_output=True,
            check=False,
        )
        if unshare
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("root without user namespaces (unshare): cannot make a read-only log")
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    namespace = [unshare, "--user", "--map-root-user", "--mount"]
    wrapped = [*namespace, "sh", "-c", script, folder, *command]
    return subprocess.run(wrapped, capture_output=True, text=True, env=env, check=False)


async def test_serve_on_a_read_only_log_says_so_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "var"
    home.mkdir()
    db = home / "log.db"
    url = f"sqlite+aiosqlite:///{db}"
    store = await open_event_store(Settings(database_url=url))
    await store.close()
    env = {**os.environ, "LEDGERGATE_DATABASE_URL": url, "LEDGERGATE_MASTER_KEY": "lg-key-0123"}
    result = _read_only_run(db, [sys.executable, "-m", "app", "serve", "--port", "0"], env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "read-only" in lines[0] and str(db) in lines[0]
    assert result.stdout == ""
