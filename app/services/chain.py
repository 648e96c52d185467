"""The chain's verification status for the admin API: ``events verify``, run in the background.

A full check reads every event, so it must not run once per page view. One check runs at a
time; its verdict is cached and reused until it is ``max_age_s`` old, and readers never wait
for a check unless they ask for a fresh one (and then at most ``wait_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from domain.ports import EventStore


class Verdict(Protocol):
    """What ``app.adapters.eventstore.export.verify`` returns."""

    count: int
    bad_position: int | None
    reason: str


Verify = Callable[[EventStore], Awaitable[Verdict]]


class ChainStatus(msgspec.Struct, kw_only=True):
    """``GET /admin/chain``: the last verdict, and whether a check is running now."""

    state: str  # "unchecked" | "ok" | "broken" | "error"
    checking: bool
    events: int  # events found sound by the last check
    bad_position: int | None = None
    reason: str | None = None
    checked_at: str | None = None  # when the last check finished (RFC 3339, UTC)
    duration_ms: float | None = None
    head: int  # the log's head now


class ChainVerifier:
    """Runs ``verify`` over the store at most once at a time and caches the verdict."""

    def __init__(self, store: EventStore, verify: Verify, max_age_s: float = 30.0) -> None:
        self.store = store
        self._verify = verify
        self.max_age_s = max_age_s
        self._task: asyncio.Task[None] | None = None
        self._last: ChainStatus | None = None
        self._finished = 0.0  # time.monotonic() of the last verdict

    async def status(self, *, fresh: bool = False, wait_s: float = 10.0) -> ChainStatus:
        """The cached verdict; starts a check if it is stale (or ``fresh`` and none is running).

        With ``fresh``, waits (at most ``wait_s``) for a check that started after this call.
        """
        deadline = time.monotonic() + wait_s
        stale = self._last is None or time.monotonic() - self._finished > self.max_age_s
        if fresh:  # a check already under way may have read the log before this call
            await self._wait(deadline)
        if not self._running() and (stale or fresh):
            self._task = asyncio.get_running_loop().create_task(self._check())
        if fresh:
            await self._wait(deadline)
        return await self._report()

    def _running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _wait(self, deadline: float) -> None:
        if self._task is not None and self._running():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), deadline - time.monotonic())

    async def _report(self) -> ChainStatus:
        checking = self._running()
        head = await self.store.head()
        if self._last is None:
            return ChainStatus(state="unchecked", checking=checking, events=0, head=head)
        return msgspec.structs.replace(self._last, checking=checking, head=head)

    async def _check(self) -> None:
        started = time.perf_counter()
        fields: dict[str, Any]
        try:
            verdict = await self._verify(self.store)
            ok = verdict.bad_position is None
            fields = {
                "state": "ok" if ok else "broken",
                "events": verdict.count,
                "bad_position": verdict.bad_position,
                "reason": None if ok else verdict.reason,
            }
        except Exception as exc:  # a failing check is a status to show, never a crash
            fields = {"state": "error", "events": 0, "reason": f"{type(exc).__name__}: {exc}"}
        now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        duration = (time.perf_counter() - started) * 1000
        self._last = ChainStatus(
            **fields, checking=False, checked_at=now, duration_ms=duration, head=0
        )
        self._finished = time.monotonic()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
