"""`ledgergate migrate`, `ledgergate events copy --to URL`: SQLite to PostgreSQL, unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.adapters.eventstore import open_event_store
from app.adapters.eventstore.export import export_line, verify
from app.ids import uuid7
from app.settings import Settings
from domain.ports import NewEvent
from tests.eventstore.conftest import delta
from tests.eventstore.test_postgres import tables

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - the exit code is asserted by the caller
        [sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True, text=True
    )


async def export_all(url: str) -> list[bytes]:
    store = await open_event_store(Settings(database_url=url))
    try:
        return [export_line(e) for e in await store.read_all(0, 100_000)]
    finally:
        await store.close()


def test_migrate_creates_every_table_on_postgresql(pg_url: str) -> None:
    result = cli("migrate", "--database-url", pg_url)
    assert result.returncode == 0, result.stderr
    assert {"events", "event_log_head", "node_leases", "projection_checkpoints"} <= tables(pg_url)


async def test_copy_sqlite_to_postgresql_keeps_positions_and_hashes(
    tmp_path: Path, pg_url: str
) -> None:
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    store = await open_event_store(Settings(database_url=sqlite_url))
    for i in range(30):
        await store.append(f"request:{i % 4}", [delta(i), delta(i + 100, "wörld")])
    await store.append("odd", [NewEvent("not-a-uuid-id", "t", 1, b'{"x":[1,2.5,"\\u00e9"]}')])
    await store.close()

    result = cli("events", "copy", "--database-url", sqlite_url, "--to", pg_url)
    assert result.returncode == 0, result.stderr
    assert "copied 61 events; the copy verifies (ok 61 events)" in result.stdout
    assert await export_all(pg_url) == await export_all(sqlite_url)  # byte for byte

    # Again: nothing to do. Into another log: refused.
    assert cli("events", "copy", "--database-url", sqlite_url, "--to", pg_url).returncode == 0
    other = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    store = await open_event_store(Settings(database_url=other))
    await store.append("x", [NewEvent(uuid7(), "t", 1, b"{}")])
    await store.close()
    refused = cli("events", "copy", "--database-url", other, "--to", pg_url)
    assert refused.returncode == 1 and "another log" in refused.stderr

    # The copy is a live log: appends continue the same chain.
    pg = await open_event_store(Settings(database_url=pg_url))
    try:
        assert await pg.append("request:1", [delta(999)]) == [62]
        assert [e.version for e in await pg.read_stream("request:1")][-1] == 17
        verdict = await verify(pg)
        assert verdict.ok and verdict.count == 62
    finally:
        await pg.close()
