"""One projection runner per cluster on PostgreSQL: whoever holds the session advisory lock.

The lock belongs to one dedicated connection; when its node dies the server closes that
connection, the lock is free, and the next node to try takes it (failover). Checkpoints stay
compare-and-set (ADR 0003), so a runner that lost the lock mid-page could not count twice.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_TRY = text("SELECT pg_try_advisory_lock(hashtext('ledgergate:projections'))")
_POSITION = text("SELECT min(position) FROM projection_checkpoints WHERE state = 'live'")


class Leadership:
    """Try for, hold and check the projection lock on one autocommit connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._conn: AsyncConnection | None = None
        self.held = False

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self.engine.connect()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def try_acquire(self) -> bool:
        """Take the lock if it is free (True also while this node already holds it)."""
        try:
            conn = await self._connection()
            if not self.held:
                self.held = bool((await conn.execute(_TRY)).scalar())
            else:
                await conn.execute(text("SELECT 1"))  # still connected, so still ours
        except Exception:
            await self.release()
            raise
        return self.held

    async def position(self) -> int:
        """Where the cluster's runner has got to: the lowest live checkpoint."""
        conn = await self._connection()
        return int((await conn.execute(_POSITION)).scalar() or 0)

    async def release(self) -> None:
        self.held = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
