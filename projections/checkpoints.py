"""Projection checkpoints: which generation of each read model is live, and how far it got."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from projections.base import Projection
from projections.db import Db
from projections.schema import projection_checkpoints as cp
from projections.schema import rm_names

LIVE = "live"
BUILDING = "building"


class CheckpointConflict(Exception):
    """The stored checkpoint moved under us (a rebuild swapped, or another runner committed)."""


class Checkpoint(msgspec.Struct):
    name: str
    generation: int
    position: int
    state: str
    updated_at: str


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def read_checkpoints(conn: AsyncConnection) -> list[Checkpoint]:
    rows = await conn.execute(select(cp).order_by(cp.c.name, cp.c.generation))
    return [Checkpoint(**dict(r)) for r in rows.mappings()]


async def new_generation(conn: AsyncConnection, name: str, state: str) -> Checkpoint:
    """Insert a checkpoint at position 0 with a generation number no projection has used."""
    top = (await conn.execute(select(func.max(cp.c.generation)))).scalar()
    checkpoint = Checkpoint(name, int(top or 0) + 1, 0, state, now())
    await conn.execute(insert(cp).values(**msgspec.structs.asdict(checkpoint)))
    return checkpoint


async def ensure_live(conn: AsyncConnection, names: list[str]) -> dict[str, Checkpoint]:
    """The live checkpoint of each name, creating generation rows for new projections.

    Call inside a write transaction (BEGIN IMMEDIATE), so two processes cannot both create one.
    """
    live = {c.name: c for c in await read_checkpoints(conn) if c.state == LIVE}
    for name in names:
        if name not in live:
            live[name] = await new_generation(conn, name, LIVE)
    return {name: live[name] for name in names}


_ADVANCE = (
    "UPDATE projection_checkpoints SET position = ?, updated_at = ?"
    " WHERE name = ? AND generation = ? AND state = ? AND position = ?"
)


def advance(db: Db, checkpoints: Sequence[Checkpoint], position: int, stamp: str) -> None:
    """Compare-and-set: move every checkpoint to ``position`` or raise CheckpointConflict.

    One ``executemany`` of fixed SQL on the runner's raw connection, inside its transaction.
    """
    cursor = db.executemany(
        _ADVANCE,
        [(position, stamp, c.name, c.generation, c.state, c.position) for c in checkpoints],
    )
    if cursor.rowcount != len(checkpoints):
        raise CheckpointConflict(", ".join(c.name for c in checkpoints))


async def drop_generation(conn: AsyncConnection, projection: Projection, generation: int) -> None:
    """Delete a generation's rows from every table of ``projection`` and its checkpoint."""
    for table in (*projection.tables, rm_names):
        await conn.execute(delete(table).where(table.c.generation == generation))
    await conn.execute(
        delete(cp).where(cp.c.name == projection.name, cp.c.generation == generation)
    )
