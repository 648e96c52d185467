"""Rebuild read models from position 0 into a fresh generation, then swap it in atomically.

The live generation keeps serving (and its runner keeps following the log) during the replay.
The swap is one transaction: the new generation becomes ``live`` and the old one's rows go.
A live runner elsewhere notices at its next commit (its compare-and-set fails) and reloads.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.ports import EventStore
from projections.checkpoints import (
    BUILDING,
    LIVE,
    Checkpoint,
    drop_generation,
    new_generation,
    read_checkpoints,
)
from projections.db import write_connection
from projections.registry import make_projections
from projections.runner import CATCH_UP_PAGE, ProjectionRunner
from projections.schema import projection_checkpoints as cp


async def rebuild(
    store: EventStore,
    engine: AsyncEngine,
    names: Sequence[str] | None = None,
    *,
    page_size: int = CATCH_UP_PAGE,
) -> dict[str, Checkpoint]:
    """Replay the log into fresh generations of ``names`` (all by default) and swap them in.

    Returns the new live checkpoints. Raises ``UnknownProjection`` for a name not shipped.
    """
    projections = make_projections(names)
    conn = await write_connection(engine)
    try:
        async with conn.begin():
            stored = await read_checkpoints(conn)
            for projection in projections:
                for old in stored:  # a rebuild that died half-way: its rows are garbage
                    if old.name == projection.name and old.state == BUILDING:
                        await drop_generation(conn, projection, old.generation)
            fresh = {p.name: await new_generation(conn, p.name, BUILDING) for p in projections}
        runner = ProjectionRunner(
            store, engine, projections, page_size=page_size, checkpoints=fresh
        )
        try:
            await runner.catch_up()
            built = runner.checkpoints
        finally:
            await runner.stop()
        async with conn.begin():
            live = {c.name: c for c in await read_checkpoints(conn) if c.state == LIVE}
            for projection in projections:
                retired = live.get(projection.name)
                if retired is not None:
                    await drop_generation(conn, projection, retired.generation)
                new = built[projection.name]
                await conn.execute(
                    update(cp)
                    .where(cp.c.name == new.name, cp.c.generation == new.generation)
                    .values(state=LIVE)
                )
        return {
            name: Checkpoint(c.name, c.generation, c.position, LIVE, c.updated_at)
            for name, c in built.items()
        }
    finally:
        await conn.close()
