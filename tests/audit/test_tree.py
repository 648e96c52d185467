"""The stored tree on a real SQLite log: proofs checked by the independent RFC 9162 reference."""

from __future__ import annotations

import random

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.adapters.audit_key import Signer, verify_note
from app.services.audit import AuditService
from domain.ports import EventStore, RecordedEvent
from projections.audit_tree import STORED_LEVEL, AuditTree
from projections.schema import audit_tree_nodes
from tests.audit import rfc9162
from tests.audit.conftest import append_requests


async def log_leaves(store: EventStore) -> list[bytes]:
    out: list[bytes] = []
    while page := await store.read_all(len(out), 1000):
        out.extend(rfc9162.leaf(bytes.fromhex(rec.hash)) for rec in page)
    return out


async def test_proofs_at_random_sizes_and_positions(
    store: EventStore, tree: AuditTree, audit: AuditService
) -> None:
    await append_requests(store, 150)  # 450 events, in pages of 37 for the follower
    assert await tree.catch_up() == 450
    leaves = await log_leaves(store)
    rng = random.Random(17)
    for _ in range(40):
        size = rng.randint(1, 450)
        position = rng.randint(1, size)
        got = await audit.inclusion(position, size)
        assert got.leaf_index == position - 1 and got.tree_size == size
        assert bytes.fromhex(got.leaf_hash) == leaves[position - 1]
        assert bytes.fromhex(got.root_hash) == rfc9162.mth(leaves[:size])
        hashes = [bytes.fromhex(h) for h in got.hashes]
        root = rfc9162.mth(leaves[:size])
        assert rfc9162.verify_inclusion(position - 1, size, leaves[position - 1], hashes, root)
        first = rng.randint(1, size)
        c = await audit.consistency(first, size)
        assert bytes.fromhex(c.first_root) == rfc9162.mth(leaves[:first])
        assert bytes.fromhex(c.second_root) == rfc9162.mth(leaves[:size])
        assert rfc9162.verify_consistency(
            first,
            size,
            rfc9162.mth(leaves[:first]),
            rfc9162.mth(leaves[:size]),
            [bytes.fromhex(h) for h in c.hashes],
        )


async def test_the_tree_survives_a_restart_and_stores_few_nodes(
    store: EventStore, engine: AsyncEngine, tree: AuditTree
) -> None:
    await append_requests(store, 100)
    await tree.catch_up(123)  # stop mid-way, at a size that is not a multiple of 16 or 64
    again = AuditTree(store, engine, page_size=1000)
    await again.load()
    assert again.size == 123
    assert again.frontier.root() == rfc9162.mth((await log_leaves(store))[:123])
    assert await again.catch_up() == 300
    assert again.frontier.root() == rfc9162.mth(await log_leaves(store))
    async with engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(audit_tree_nodes))).scalar()
    assert rows == sum(300 >> level for level in range(STORED_LEVEL, 9))


async def test_a_checkpoint_verifies_from_its_note_text_alone(
    store: EventStore, tree: AuditTree, audit: AuditService, signer: Signer
) -> None:
    await append_requests(store, 10)
    signed = await audit.sign()
    lines = signed.note.split("\n")
    assert lines[:3] == [signer.name, "30", lines[2]] and lines[3] == ""
    assert lines[4].startswith("\u2014 " + signer.name + " ")
    checkpoint = verify_note(signed.note, signer.verifier_key)
    assert checkpoint.tree_size == 30
    assert checkpoint.root_hash == rfc9162.mth((await log_leaves(store))[:30])
    # The checkpoint is itself in the log, and the follower files it.
    await tree.catch_up()
    latest = await tree.latest_checkpoint()
    assert latest is not None and latest.note == signed.note and latest.position == 31


async def test_the_timer_signs_while_the_log_grows_and_only_then(
    store: EventStore, tree: AuditTree, signer: Signer
) -> None:
    audit = AuditService(store, tree, signer, interval_s=0.05)
    await append_requests(store, 2)  # positions 1..6
    audit.start()
    try:
        assert await store.wait_for(7, timeout=10)
        (signed,) = await store.read_all(6, 10)
        assert signed.type == "audit.checkpoint_signed"
        assert verify_note(audit_note(signed), signer.verifier_key).tree_size == 6
        assert not await audit.log_grew()  # its own checkpoint is not growth
        await append_requests(store, 1)  # positions 8..10
        assert await audit.log_grew()
        assert await store.wait_for(11, timeout=10)
        (again,) = await store.read_all(10, 10)
        assert verify_note(audit_note(again), signer.verifier_key).tree_size == 10
    finally:
        await audit.close()


def audit_note(rec: RecordedEvent) -> str:
    note: str = msgspec.json.decode(rec.data)["note"]
    return note
