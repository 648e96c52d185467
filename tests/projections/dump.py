"""Dump the live generation of every read-model table, generation column left out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from projections.checkpoints import read_checkpoints
from projections.registry import PROJECTIONS
from projections.schema import rm_names


async def dump(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn, conn.begin():
        live = {c.name: c.generation for c in await read_checkpoints(conn) if c.state == "live"}
        for name, cls in PROJECTIONS.items():
            for table in (*cls.tables, rm_names):
                cols = [c for c in table.c if c.name != "generation"]
                rows = await conn.execute(select(*cols).where(table.c.generation == live[name]))
                key = f"{name}:{table.name}"
                out[key] = sorted(tuple(r) for r in rows.all())
    return out
