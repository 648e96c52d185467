"""``events verify`` holds the log to its signed checkpoints, even when the chain is recomputed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.adapters.audit_key import Signer
from app.adapters.eventstore import open_event_store
from app.adapters.eventstore.canonical import ZERO_HEX
from app.adapters.eventstore.export import expected_hash
from app.services.audit import AuditService
from app.settings import Settings
from domain.checkpoint import checkpoint_text
from domain.events import CheckpointSigned
from domain.upcasting import decode
from tests.audit.conftest import append_requests


def cli_verify(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERGATE_")}
    cmd = [sys.executable, "-m", "app", "events", "verify", "--database-url", db_url, *args]
    return subprocess.run(
        cmd, env=env, cwd=Path(db_url.split("///", 1)[1]).parent, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip


def sql(db_url: str, *statements: str, params: tuple[object, ...] = ()) -> None:
    conn = sqlite3.connect(db_url.split("///", 1)[1])
    with conn:
        for statement in statements:
            conn.execute(statement, params)
    conn.close()


async def rehash(db_url: str) -> None:
    """What a forger does after editing rows: recompute every hash and the chain head."""
    store = await open_event_store(Settings(database_url=db_url))
    updates, prev, last = [], ZERO_HEX, 0
    try:
        after = 0
        while page := await store.read_all(after, 1000):
            for rec in page:
                new = expected_hash(rec, prev)
                if new != rec.hash:
                    updates.append((bytes.fromhex(new), rec.position))
                prev, last = new, rec.position
            after = page[-1].position
    finally:
        await store.close()
    conn = sqlite3.connect(db_url.split("///", 1)[1])
    with conn:
        conn.executemany("UPDATE events SET hash = ? WHERE position = ?", updates)
        conn.execute(
            "UPDATE event_log_head SET position = ?, hash = ?", (last, bytes.fromhex(prev))
        )
    conn.close()


async def signed_log(audit: AuditService) -> None:
    """30 request events, a checkpoint (position 31), 15 more, another (position 47)."""
    await append_requests(audit.store, 10)
    await audit.sign()
    await append_requests(audit.store, 5)
    await audit.sign()


async def test_a_recomputed_chain_does_not_fool_the_checkpoints(
    db_url: str, audit: AuditService, signer: Signer, tmp_path: Path
) -> None:
    await signed_log(audit)
    await audit.store.close()
    vkey = signer.verifier_key
    ok = cli_verify(db_url, "--key", vkey)
    assert (ok.returncode, ok.stdout) == (0, "ok 47 events\nok 2 signed checkpoints\n"), ok.stderr

    # An edited payload with the whole chain recomputed: the chain passes, the tree does not.
    sql(db_url, "UPDATE events SET data = CAST(? AS BLOB) WHERE position = 4",
        params=('{"request_id":"chatcmpl-3","seq":7}',))  # fmt: skip
    await rehash(db_url)
    chain_only = cli_verify(db_url)
    assert chain_only.returncode == 0  # without the verifier key, the forgery passes...
    bad = cli_verify(db_url, "--key", vkey)
    assert bad.returncode == 1  # ...with it, it does not
    assert bad.stdout.startswith("bad position 31: the log's tree at size 30 is not the signed one")


def swap_neighbours(db_url: str, signer: Signer, tmp_path: Path) -> list[str]:
    """Two neighbours of different streams swapped (each stream's versions still in order)."""
    sql(db_url, "UPDATE events SET position = -1 WHERE position = 2",
        "UPDATE events SET position = 2 WHERE position = 3",
        "UPDATE events SET position = 3 WHERE position = -1")  # fmt: skip
    return []


def cut_tail(db_url: str, signer: Signer, tmp_path: Path) -> list[str]:
    """The tail cut off with the second checkpoint in it; only a checkpoint kept elsewhere shows
    it (the forger also moves the chain head, so the chain alone passes)."""
    conn = sqlite3.connect(db_url.split("///", 1)[1])
    (data,) = conn.execute("SELECT data FROM events WHERE position = 47").fetchone()
    conn.close()
    held = tmp_path / "second.note"
    held.write_text(msgspec.json.decode(data)["note"], encoding="utf-8")
    sql(db_url, "DELETE FROM events WHERE position > 31")
    return ["--checkpoint", str(held)]


def resign(db_url: str, signer: Signer, tmp_path: Path) -> list[str]:
    """Every checkpoint re-signed with another key of the same name."""
    other = Signer(signer.name, Ed25519PrivateKey.generate())
    conn = sqlite3.connect(db_url.split("///", 1)[1])
    type_id = conn.execute(
        "SELECT type_id FROM event_types WHERE name = ?", (CheckpointSigned.TYPE,)
    ).fetchone()[0]
    rows = conn.execute("SELECT position, data FROM events WHERE type_id = ?", (type_id,))
    with conn:
        for position, stored in rows.fetchall():
            event = decode(CheckpointSigned.TYPE, 1, stored)
            assert isinstance(event, CheckpointSigned)
            note = other.sign(
                checkpoint_text(signer.name, event.tree_size, bytes.fromhex(event.root_hash))
            )
            forged = msgspec.structs.replace(event, note=note)
            data = rfc8785.dumps(msgspec.to_builtins(forged))  # stored payloads are canonical
            conn.execute("UPDATE events SET data = ? WHERE position = ?", (data, position))
    conn.close()
    return []


@pytest.mark.parametrize(
    ("forge", "bad"),
    [
        (swap_neighbours, "bad position 31: the log's tree at size 30 is not the signed one"),
        (cut_tail, "bad position 32: the log has 31 events, fewer than the 46 of a checkpoint"),
        (resign, "bad position 31: checkpoint: the note carries no signature"),
    ],
    ids=["reordered", "truncated", "re-signed"],
)
async def test_reordering_truncation_and_another_key_are_caught(
    *,
    db_url: str,
    audit: AuditService,
    signer: Signer,
    tmp_path: Path,
    forge: Callable[[str, Signer, Path], list[str]],
    bad: str,
) -> None:
    await signed_log(audit)
    await audit.store.close()
    extra = forge(db_url, signer, tmp_path)
    await rehash(db_url)
    assert cli_verify(db_url).returncode == 0  # the recomputed chain passes on its own
    caught = cli_verify(db_url, "--key", signer.verifier_key, *extra)
    assert caught.returncode == 1
    assert caught.stdout.startswith(bad), caught.stdout
