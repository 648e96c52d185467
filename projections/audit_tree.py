"""The log's RFC 9162 Merkle tree, kept in the database by a follower that tails the log.

The follower reads each new page of events, pushes their leaves onto the tree's right edge (kept
in memory) and stores every perfect subtree of ``2**STORED_LEVEL`` leaves or more, with the new
size, in one transaction (compare-and-set on the old size, so two followers never store a node
twice). Smaller subtrees are rehashed from the events' hashes when a proof needs them: that
keeps the table at about one row per 16 events, and a proof reads O(log n) rows plus at most a
few runs of 31 event hashes. Portable SQLAlchemy Core: SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from hashlib import sha256
from typing import Protocol, runtime_checkable

import msgspec
from sqlalchemy import desc, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import CheckpointSigned
from domain.merkle import LEAF_PREFIX, Frontier, NodePlan, Nodes, leaf_hash, node_hash
from domain.ports import EventStore, RecordedEvent
from domain.upcasting import decode
from projections.db import write_connection
from projections.schema import audit_checkpoints, audit_tree_head, audit_tree_nodes

log = logging.getLogger("ledgergate.audit")

STORED_LEVEL = 5
"""Perfect subtrees of 32 leaves and more are stored (about one row per 16 events); smaller
ones are rehashed from the events' hashes when a proof needs them (at most a few runs of 31)."""
PAGE = 10_000
RUN_GAP = 512
"""Leaves this close are read in one query: a few hundred extra hashes cost less than a query."""
COALESCE_S = 0.5
_IN_CHUNK = 500


def node_id(level: int, index: int) -> int:
    return level << 48 | index


class TreeError(Exception):
    """The stored tree does not hold what a proof needs (a size beyond it, a missing node)."""


class TreeConflict(Exception):
    """Another follower extended the stored tree first."""


class StoredCheckpoint(msgspec.Struct, frozen=True):
    position: int  # of its audit.checkpoint_signed event
    tree_size: int
    root_hash: bytes
    note: str


class Resolved:
    """``Nodes`` answered from fetched rows and leaves; small subtrees rehashed on demand."""

    def __init__(self, stored: dict[int, bytes], leaves: dict[int, bytes]) -> None:
        self.stored = stored
        self.leaves = leaves
        self._small: dict[tuple[int, int], bytes] = {}  # rehashed once, shared by proofs

    def perfect(self, level: int, index: int) -> bytes:
        if level >= STORED_LEVEL:
            found = self.stored.get(node_id(level, index))
            if found is None:
                raise TreeError(f"the audit tree has no node ({level}, {index})")
            return found
        if level == 0:
            return self.leaves[index]
        found = self._small.get((level, index))
        if found is None:
            left = self.perfect(level - 1, 2 * index)
            found = node_hash(left, self.perfect(level - 1, 2 * index + 1))
            self._small[(level, index)] = found
        return found


class AuditTree:
    """Reads and extends the stored tree. ``load`` before use; ``start`` to follow the log."""

    def __init__(
        self,
        store: EventStore,
        engine: AsyncEngine,
        *,
        page_size: int = PAGE,
        coalesce_s: float = COALESCE_S,
    ) -> None:
        self.store = store
        self.engine = engine
        self.page_size = page_size
        self.coalesce_s = coalesce_s
        self.frontier = Frontier()
        self._loaded = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.error: str | None = None

    @property
    def size(self) -> int:
        return self.frontier.size

    # --- reading nodes ------------------------------------------------------------------------

    async def resolve(self, plan: NodePlan) -> Nodes:
        """Fetch every stored node and leaf the plan's subtrees need, in few queries."""
        ids: set[int] = set()
        leaves: set[int] = set()
        for level, index in plan.wanted:
            if level >= STORED_LEVEL:
                ids.add(node_id(level, index))
            else:
                leaves.update(range(index << level, (index + 1) << level))
        # Two connections (the tree's database, the log's reader): both at once.
        stored, hashes = await asyncio.gather(self._stored(sorted(ids)), self._leaves(leaves))
        return Resolved(stored, hashes)

    async def _stored(self, wanted: list[int]) -> dict[int, bytes]:
        stored: dict[int, bytes] = {}
        if not wanted:
            return stored
        async with self.engine.connect() as conn:
            for i in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[i : i + _IN_CHUNK]
                rows = await conn.execute(
                    select(audit_tree_nodes.c.node_id, audit_tree_nodes.c.hash).where(
                        audit_tree_nodes.c.node_id.in_(chunk)
                    )
                )
                stored.update((int(r[0]), bytes(r[1])) for r in rows)
        return stored

    async def _leaves(self, indexes: Iterable[int]) -> dict[int, bytes]:
        wanted = sorted(indexes)
        out: dict[int, bytes] = {}
        for start, count in _runs(wanted):
            hashes = await read_hashes(self.store, start, count)
            if len(hashes) != count or hashes[-1][0] != start + count:
                raise TreeError(f"the log has no events {start + 1}..{start + count}")
            for position, h in hashes:
                out[position - 1] = h
        return {i: leaf_hash(out[i]) for i in wanted}

    async def nodes(self, plan: NodePlan, tree_size: int) -> Nodes:
        """Resolve ``plan`` for a tree of ``tree_size`` leaves, catching up to it first."""
        if tree_size > self.size:
            await self.catch_up(tree_size)
        if tree_size > self.size:
            raise TreeError(f"the log has {self.size} events, fewer than {tree_size}")
        return await self.resolve(plan)

    # --- following the log --------------------------------------------------------------------

    async def load(self) -> None:
        """Read the stored size and rebuild the right edge from it."""
        async with self.engine.connect() as conn:
            size = (await conn.execute(select(audit_tree_head.c.size))).scalar()
        if size is None:
            with contextlib.suppress(IntegrityError):
                async with self.engine.begin() as conn:
                    await conn.execute(insert(audit_tree_head).values(id=1, size=0))
            size = 0
        plan = NodePlan()
        Frontier.of(plan, int(size))
        self.frontier = Frontier.of(await self.resolve(plan), int(size))
        self._loaded = True

    async def catch_up(self, until: int | None = None) -> int:
        """Extend the stored tree to ``until`` (default: the log's end); returns the size."""
        async with self._lock:
            if not self._loaded:
                await self.load()
            while until is None or self.size < until:
                limit = self.page_size if until is None else min(self.page_size, until - self.size)
                page = await read_hashes(self.store, self.size, limit)
                if not page:
                    break
                try:
                    await self.apply(page)
                except TreeConflict:
                    await self.load()
                if len(page) < limit:
                    break
        return self.size

    async def apply(self, page: list[tuple[int, bytes]]) -> None:
        """Add the leaves of ``page`` (positions and event hashes, dense from size + 1)."""
        old = self.size
        end = old + len(page)
        if page[0][0] != old + 1 or page[-1][0] != end:
            raise TreeError(f"expected positions {old + 1}..{end}, read {page[0][0]}..")
        frontier = Frontier(old, self.frontier.edge)
        made = frontier.extend((sha256(LEAF_PREFIX + h).digest() for _, h in page), STORED_LEVEL)
        rows = [{"node_id": node_id(level, index), "hash": h} for level, index, h in made]
        signed = await self.store.read_all(old, len(page), [CheckpointSigned.TYPE])
        checkpoints = [_checkpoint_row(rec) for rec in signed if rec.position <= end]
        conn = await write_connection(self.engine)
        try:
            async with conn.begin():
                moved = await conn.execute(
                    update(audit_tree_head)
                    .where(audit_tree_head.c.id == 1, audit_tree_head.c.size == old)
                    .values(size=end)
                )
                if moved.rowcount != 1:
                    raise TreeConflict(f"the stored tree is no longer {old} leaves")
                if rows:
                    await conn.execute(insert(audit_tree_nodes), rows)
                if checkpoints:
                    await conn.execute(insert(audit_checkpoints), checkpoints)
        finally:
            await conn.close()
        self.frontier = frontier

    async def run(self) -> None:
        """Follow the log forever (coalescing commits that arrive close together)."""
        delay = 0.5
        while True:
            try:
                await self.load()
                while True:
                    await self.catch_up()
                    self.error, delay = None, 0.5
                    while not await self.store.wait_for(self.size + 1, timeout=5.0):
                        pass
                    await asyncio.sleep(self.coalesce_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep serving proofs of what is stored; retry
                self.error = f"{type(exc).__name__}: {exc}"
                log.exception("audit tree follower failed; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name="audit-tree")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- checkpoints --------------------------------------------------------------------------

    async def latest_checkpoint(self, min_size: int = 0) -> StoredCheckpoint | None:
        """The last checkpoint event applied, if it covers at least ``min_size`` leaves."""
        query = select(audit_checkpoints).order_by(desc(audit_checkpoints.c.position)).limit(1)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None or int(row["tree_size"]) < min_size:
            return None
        return StoredCheckpoint(
            int(row["position"]), int(row["tree_size"]), bytes(row["root_hash"]), row["note"]
        )


@runtime_checkable
class HashReader(Protocol):
    """A store that can list (position, hash) without payloads (SQLite does): the fast path."""

    async def read_hashes(self, after: int, limit: int) -> list[tuple[int, bytes]]: ...


async def read_hashes(store: EventStore, after: int, limit: int) -> list[tuple[int, bytes]]:
    """(position, 32-byte hash) of up to ``limit`` events after ``after``, from any store."""
    if isinstance(store, HashReader):
        return await store.read_hashes(after, limit)
    return [(rec.position, bytes.fromhex(rec.hash)) for rec in await store.read_all(after, limit)]


def _checkpoint_row(rec: RecordedEvent) -> dict[str, object]:
    event = decode(rec.type, rec.schema_version, rec.data)
    assert isinstance(event, CheckpointSigned)
    return {
        "position": rec.position,
        "tree_size": event.tree_size,
        "root_hash": bytes.fromhex(event.root_hash),
        "note": event.note,
    }


def _runs(indexes: list[int], gap: int = RUN_GAP) -> list[tuple[int, int]]:
    """Sorted leaf indexes as (start, count) runs, neighbours up to ``gap`` apart joined."""
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and i - (runs[-1][0] + runs[-1][1]) <= gap:
            runs[-1] = (runs[-1][0], i + 1 - runs[-1][0])
        else:
            runs.append((i, 1))
    return runs
