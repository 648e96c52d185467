"""What only the SQLite store can show: tampering, export, the unique backstop.

Several writer processes and crashes: ``test_processes.py`` (both backends)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.adapters.eventstore import open_event_store
from app.adapters.eventstore.export import verify
from app.settings import Settings
from domain.ports import EventStore
from tests.eventstore.conftest import delta

ROOT = Path(__file__).resolve().parents[2]


def db_path(url: str) -> str:
    return url.split("///", 1)[1]


async def open_sqlite(url: str) -> EventStore:
    return await open_event_store(Settings(database_url=url))


async def test_unique_index_is_the_backstop(db_url: str) -> None:
    store = await open_sqlite(db_url)
    await store.append("s", [delta(1)])
    await store.close()
    conn = sqlite3.connect(db_path(db_url))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO events SELECT 2, x'00', stream_id, version, type_id, schema_version,"
            " recorded_at, data, meta, hash FROM events WHERE position = 1"
        )
    conn.close()


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` (blocking on purpose: the CLI under test is its own process)."""
    return subprocess.run(args, **kwargs)  # noqa: PLW1510


def tamper(url: str, *sql: str) -> None:
    conn = sqlite3.connect(db_path(url))
    for statement in sql:
        conn.execute(statement)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("sql", "bad"),
    [
        (["UPDATE events SET data = CAST('{\"seq\":9}' AS BLOB) WHERE position = 4"], 4),
        (["DELETE FROM events WHERE position = 3"], 3),
        (
            [
                "UPDATE events SET position = -1 WHERE position = 2",
                "UPDATE events SET position = 2 WHERE position = 5",
                "UPDATE events SET position = 5 WHERE position = -1",
            ],
            2,
        ),
        (["DELETE FROM events WHERE position >= 5"], 5),
        (["UPDATE events SET recorded_at = recorded_at + 1 WHERE position = 6"], 6),
    ],
    ids=["edited-payload", "deleted-row", "swapped-rows", "truncated-tail", "edited-time"],
)
async def test_verify_names_the_first_bad_position(db_url: str, sql: list[str], bad: int) -> None:
    store = await open_sqlite(db_url)
    for i in range(3):
        await store.append(f"s{i}", [delta(1), delta(2)])
    await store.close()
    cli = [sys.executable, "-m", "app", "events", "verify", "--database-url", db_url]
    ok = run(cli, cwd=ROOT, capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stdout) == (0, "ok 6 events\n")
    tamper(db_url, *sql)
    result = run(cli, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout.startswith(f"bad position {bad}:"), result.stdout


async def test_export_verifies_with_a_plain_rfc8785_library(db_url: str) -> None:
    store = await open_sqlite(db_url)
    await store.append("request:é", [delta(1, "naïve 😀"), delta(2, "\\u0007")])
    await store.append("x", [delta(1, "tab\\t")])
    payload = b'{"seed":12345678901234567891,"t":1e-7,"z":-0.0,"big":1e21,"\\ud83d\\ude00":1}'
    from domain.ports import NewEvent

    await store.append("x", [NewEvent("custom-id", "request.received", 1, payload)])
    await store.close()
    # The verifier below uses only the export, the rfc8785 library and hashlib.
    out = run(
        [sys.executable, "-m", "app", "events", "export", "--database-url", db_url],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    script = """
import hashlib, json, sys, rfc8785
prev = "0" * 64
for n, line in enumerate(sys.stdin.buffer.read().splitlines(), 1):
    event = json.loads(line)
    claimed = event.pop("hash")
    assert event["position"] == n and event["prev_hash"] == prev, n
    assert hashlib.sha256(rfc8785.dumps(event)).hexdigest() == claimed, n
    prev = claimed
print(n)
"""
    check = run([sys.executable, "-c", script], input=out, capture_output=True, check=False)
    assert check.returncode == 0, check.stderr
    assert check.stdout == b"4\n"
    lines = [json.loads(line) for line in out.splitlines()]
    assert list(lines[0]) == [
        "position", "event_id", "stream", "version", "type", "schema_version", "recorded_at",
        "data", "meta", "prev_hash", "hash",
    ]  # fmt: skip
    assert lines[0]["stream"] == "request:é"
    assert lines[3]["event_id"] == "custom-id"
    assert lines[3]["data"]["seed"] == "12345678901234567891"
    filtered = run(
        [sys.executable, "-m", "app", "events", "export", "--database-url", db_url,
         "--stream", "x", "--after", "3"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert [json.loads(line)["position"] for line in filtered.splitlines()] == [4]


async def test_the_hash_chain_is_the_same_in_both_stores(db_url: str) -> None:
    from app.adapters.eventstore.memory import InMemoryEventStore

    sqlite_store, memory_store = await open_sqlite(db_url), await InMemoryEventStore.open()
    batches = [("a", [delta(1), delta(2)]), ("b", [delta(3)])]
    for stream, events in batches:
        await sqlite_store.append(stream, events)
        await memory_store.append(stream, events)
    a, b = await sqlite_store.read_all(), await memory_store.read_all()
    # recorded_at differs; everything the chain covers but time must match, and both verify.
    assert [(e.event_id, e.data, e.meta, e.prev_hash == "0" * 64) for e in a] == [
        (e.event_id, e.data, e.meta, e.prev_hash == "0" * 64) for e in b
    ]
    assert (await verify(sqlite_store)).ok and (await verify(memory_store)).ok
    await sqlite_store.close()
    await memory_store.close()


async def test_a_row_written_behind_the_writers_back_does_not_wedge_it(db_url: str) -> None:
    store = await open_sqlite(db_url)
    for i in range(3):
        await store.append(f"s{i}", [delta(1), delta(2)])
    # Another program inserts position 7 (version 3 of s0) without moving the chain head.
    tamper(
        db_url,
        "INSERT INTO events SELECT 7, x'01', stream_id, 3, type_id, schema_version,"
        " recorded_at, data, meta, hash FROM events WHERE position = 1",
    )
    assert await store.append("s0", [delta(3)]) == [8]  # the open writer is not wedged
    assert await store.append("fresh", [delta(1)]) == [9]
    await store.close()
    store = await open_sqlite(db_url)  # nor is the next process
    assert await store.append("s0", [delta(4)]) == [10]
    assert [e.version for e in await store.read_stream("s0")] == [1, 2, 3, 4, 5]
    await store.close()
    cli = [sys.executable, "-m", "app", "events", "verify", "--database-url", db_url]
    result = run(cli, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout.startswith("bad position 7:"), result.stdout
