"""The audit tree on PostgreSQL: the same proofs, and two followers sharing one tree."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.adapters.audit_key import Signer, verify_note
from app.adapters.eventstore import open_event_store
from app.services.audit import AuditService
from app.settings import Settings
from domain.ports import EventStore
from projections.audit_tree import STORED_LEVEL, AuditTree
from projections.db import create_read_model_engine
from projections.schema import audit_tree_nodes
from tests.audit import rfc9162
from tests.audit.conftest import append_requests
from tests.audit.test_tree import log_leaves


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[EventStore]:
    store = await open_event_store(Settings(database_url=pg_url))  # migrates: audit tables too
    yield store
    await store.close()


@pytest.fixture
async def pg_engine(pg_store: EventStore, pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_read_model_engine(pg_url)
    yield engine
    await engine.dispose()


async def test_proofs_and_checkpoints_on_postgresql(
    pg_store: EventStore, pg_engine: AsyncEngine
) -> None:
    await append_requests(pg_store, 70)  # 210 events
    tree = AuditTree(pg_store, pg_engine, page_size=37)
    signer = Signer("pg.example/log", Ed25519PrivateKey.generate())
    audit = AuditService(pg_store, tree, signer, interval_s=0)
    signed = await audit.sign()
    assert verify_note(signed.note, signer.verifier_key).tree_size == 210
    leaves = await log_leaves(pg_store)
    root = rfc9162.mth(leaves[:210])
    assert signed.root_hash == root
    rng = random.Random(5)
    for _ in range(15):
        size = rng.randint(1, 210)
        position = rng.randint(1, size)
        got = await audit.inclusion(position, size)
        hashes = [bytes.fromhex(h) for h in got.hashes]
        mth = rfc9162.mth(leaves[:size])
        assert rfc9162.verify_inclusion(position - 1, size, leaves[position - 1], hashes, mth)
        first = rng.randint(1, size)
        c = await audit.consistency(first, size)
        proof = [bytes.fromhex(h) for h in c.hashes]
        assert rfc9162.verify_consistency(first, size, rfc9162.mth(leaves[:first]), mth, proof)
    await tree.catch_up()
    latest = await tree.latest_checkpoint()
    assert latest is not None and latest.note == signed.note and latest.position == 211


async def test_two_followers_extend_one_tree(pg_store: EventStore, pg_engine: AsyncEngine) -> None:
    await append_requests(pg_store, 100)  # 300 events
    one = AuditTree(pg_store, pg_engine, page_size=50)
    two = AuditTree(pg_store, pg_engine, page_size=70)
    assert await asyncio.gather(one.catch_up(), two.catch_up()) == [300, 300]
    assert one.frontier.root() == two.frontier.root() == rfc9162.mth(await log_leaves(pg_store))
    async with pg_engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(audit_tree_nodes))).scalar()
    assert rows == sum(300 >> level for level in range(STORED_LEVEL, 9))  # each stored once
