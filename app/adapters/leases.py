"""This process as a node: an id, and a lease in the database that says it is alive.

Every serving process (each uvicorn worker, each host) inserts a row in ``node_leases`` and
renews it every ``ttl / 3`` seconds. A node whose lease has expired is gone: the requests it left
open are another node's to end (``app.services.interrupted``). Leases are a cold path (one small
write every few seconds) and go through SQLAlchemy, the same code for SQLite and PostgreSQL; an
in-memory log has one process, so its node table is a set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.adapters.eventstore.migrate import async_url
from app.adapters.eventstore.schema import node_leases
from app.ids import uuid7

log = logging.getLogger(__name__)

FORGET_AFTER_S = 3600.0
"""Rows of nodes gone this long are deleted (their requests were ended long before)."""


def _micros(seconds: float) -> int:
    return int(seconds * 1_000_000)


class NodeLeases:
    """The lease of this process, and who else is alive, in the log's database."""

    def __init__(self, database_url: str, ttl_s: float) -> None:
        self.node_id = uuid7()
        self.ttl_s = ttl_s
        self._memory = database_url.startswith("memory:")
        self._engine: AsyncEngine | None = None
        if not self._memory:
            self._engine = create_async_engine(async_url(database_url), pool_size=1, max_overflow=1)
        self._renewer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take the lease and keep it renewed until ``stop``."""
        await self.renew()
        self._renewer = asyncio.get_running_loop().create_task(self._renew_loop())

    async def renew(self) -> None:
        if self._engine is None:
            return
        now = time.time()
        expires = _micros(now + self.ttl_s)
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(node_leases)
                .where(node_leases.c.node_id == self.node_id)
                .values(expires_at=expires)
            )
            if done.rowcount == 0:
                await conn.execute(
                    insert(node_leases).values(
                        node_id=self.node_id,
                        host=socket.gethostname(),
                        pid=os.getpid(),
                        started_at=_micros(now),
                        expires_at=expires,
                    )
                )

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.renew()
            except Exception as exc:  # the database may be briefly away: try again next tick
                log.warning("could not renew the node lease: %s", exc)

    async def live(self) -> set[str]:
        """Ids of the nodes whose lease has not expired (this one included)."""
        if self._engine is None:
            return {self.node_id}
        now = _micros(time.time())
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(node_leases).where(node_leases.c.expires_at < now - _micros(FORGET_AFTER_S))
            )
            rows = await conn.execute(
                select(node_leases.c.node_id).where(node_leases.c.expires_at >= now)
            )
            return {str(r[0]) for r in rows} | {self.node_id}

    async def stop(self) -> None:
        """Give the lease back (a node that stops cleanly has finished its requests)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if self._engine is not None:
            with contextlib.suppress(Exception):
                async with self._engine.begin() as conn:
                    await conn.execute(
                        delete(node_leases).where(node_leases.c.node_id == self.node_id)
                    )
            await self._engine.dispose()
