"""A row another program writes into the log behind the gateway's back does not wedge it: the
gateway keeps serving, starts again on that log, and ``ledgergate events verify`` names the row."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import LiveGateway

ROOT = Path(__file__).resolve().parents[2]


def _chat(gw: LiveGateway) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(gw.url("/v1/chat/completions"), json=body, headers=gw.headers(), timeout=30)


# Rows another program might write: the last event copied as the next position and the next
# version of its stream (valid-looking, but not chained), or one whose payload is not JSON.
ROWS = {
    "copied": "data",
    "garbage": "x'ff00'",
}


def _insert_behind_its_back(db: Path, data: str) -> int:
    """Insert one row after the last, outside the gateway's writer; its position."""
    conn = sqlite3.connect(db)
    try:
        (position,) = conn.execute("SELECT max(position) + 1 FROM events").fetchone()
        conn.execute(
            "INSERT INTO events SELECT position + 1, x'01', stream_id, version + 1, type_id,"
            f" schema_version, recorded_at, {data}, meta, hash FROM events"
            " WHERE position = ?",
            (position - 1,),
        )
        conn.commit()
    finally:
        conn.close()
    return int(position)


@pytest.mark.parametrize("row", ROWS)
def test_a_row_written_behind_the_gateways_back_does_not_wedge_it(
    gateway_factory: Callable[..., LiveGateway], tmp_path: Path, row: str
) -> None:
    db = tmp_path / "log.db"
    url = f"sqlite+aiosqlite:///{db}"
    gw = gateway_factory(database_url=url)
    for _ in range(2):
        assert _chat(gw).status_code == 200
    bad = _insert_behind_its_back(db, ROWS[row])
    for _ in range(3):  # the running writer is not wedged
        response = _chat(gw)
        assert response.status_code == 200, response.text
    gw.stop()

    again = gateway_factory(database_url=url)  # nor is the next start on that log
    assert httpx.get(again.url("/readyz")).status_code == 200
    for _ in range(3):
        response = _chat(again)
        assert response.status_code == 200, response.text
    head = again.call(again.services.store.head)
    assert head > bad
    metrics = httpx.get(
        again.url("/admin/metrics"), params={"min_position": head}, headers=again.headers()
    ).json()
    # The read models went past the row: every projection caught up and running.
    assert all(p["lag"] == 0 and p["running"] for p in metrics["projections"]), metrics
    assert metrics["requests"]["by_status"]["completed"] >= 8
    assert httpx.get(again.url("/readyz")).json()["status"] == "ready"
    again.stop()

    cli = [sys.executable, "-m", "app", "events", "verify", "--database-url", url]
    result = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout.startswith(f"bad position {bad}:"), result.stdout
