"""Several writer processes on one log, on each backend that has them (a SQLite file, a
PostgreSQL database): a tailing reader sees no hole, and killing one writer loses nothing it
acknowledged while the other goes on. PostgreSQL cases are skipped without a server (``pg_url``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from app.adapters.eventstore import open_event_store
from app.adapters.eventstore.export import verify
from app.adapters.eventstore.migrate import conninfo
from app.settings import Settings
from tests.eventstore.conftest import delta

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"


def start_appender(url: str, tag: str, batches: int, tasks: int = 4) -> subprocess.Popen[bytes]:
    """``tests/eventstore/appender.py``: prints each acknowledged position (BATCHES 0: forever)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.eventstore.appender", url, tag, str(batches), str(tasks)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )


def stored_positions(url: str) -> set[int]:
    """Every position in the log's table, read with the raw driver (SQLite: after its own
    integrity check) once no killed writer can still commit.

    A SIGKILLed process's SQLite writes stop with it; a PostgreSQL server may still be running
    the COMMIT it was sent. Such a transaction holds ``event_log_head``'s row lock from its first
    statement, and a dead client sends nothing new, so once this transaction holds the lock no
    killed writer can add a row.
    """
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1])
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            return {row[0] for row in conn.execute("SELECT position FROM events")}
        finally:
            conn.close()
    with psycopg.connect(conninfo(url)) as pg:
        pg.execute("SELECT 1 FROM event_log_head WHERE id = 1 FOR UPDATE")
        return {row[0] for row in pg.execute("SELECT position FROM events")}


async def test_two_writer_processes_and_a_tailing_reader_see_no_hole(url: str) -> None:
    store = await open_event_store(Settings(database_url=url))  # migrates; then only reads
    # Batches of 1, 2, 3, 1, 2, 3… events; PostgreSQL's reader is woken by NOTIFY.
    batches, tasks = (300, 8) if url.startswith("postgresql") else (150, 4)
    total = 2 * batches * 2
    procs = [start_appender(url, tag, batches, tasks) for tag in ("a", "b")]
    seen = 0
    acked: list[int] = []
    try:
        async for page in store.subscribe(after=0, batch=50):
            positions = [e.position for e in page]
            assert positions == list(range(seen + 1, seen + 1 + len(page)))
            seen = positions[-1]
            if seen >= total:
                break
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0
            acked += [int(p) for p in out.split()]
    finally:
        for proc in procs:
            proc.kill()
    assert sorted(acked) == list(range(1, total + 1))
    assert await store.head() == total
    verdict = await verify(store)
    assert verdict.ok and verdict.count == total
    await store.close()


async def test_sigkill_mid_append_loses_nothing_acknowledged(url: str) -> None:
    store = await open_event_store(Settings(database_url=url))
    await store.close()
    survivor = start_appender(url, "live", 0)
    victim = start_appender(url, "k", 0)
    assert victim.stdout is not None and survivor.stdout is not None
    acked: list[int] = []
    try:
        while len(acked) < 400:
            line = await asyncio.to_thread(victim.stdout.readline)
            assert line, "the appender died before being killed"
            acked += [int(p) for p in line.split()]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        last = max(stored_positions(url))  # the dead writer's last commit
        # The other writer goes on past it (its older lines wait in the pipe first).
        while True:
            line = await asyncio.to_thread(survivor.stdout.readline)
            assert line, "the other appender died"
            if max(int(p) for p in line.split()) > last:
                break
    finally:
        survivor.kill()
        survivor.wait()
        victim.kill()
    present = stored_positions(url)
    assert set(acked) <= present
    assert present == set(range(1, max(present) + 1))
    store = await open_event_store(Settings(database_url=url))
    assert (await verify(store)).ok
    assert await store.append("after", [delta(1)]) == [max(present) + 1]
    await store.close()
