"""The gateway's side of drop-in workers: start one per SDK drop-in, watch it, restart or give up.

A worker is forked by the probe server (the same fork server as import probes, ADR 0009/0010)
with a socket to the gateway. Starting one has the import deadline and memory limit of probes;
a worker that does not answer a ping within the hang deadline is killed; one that dies (a tool's
``os._exit``, a native crash, the kill) ends the requests it was serving with 502
``dropin_crashed``, and the next request starts a fresh worker after a back-off. A worker that
keeps dying (``CRASH_LIMIT`` deaths within ``CRASH_WINDOW_S``) is given up: the drop-in is
reported failed, with a remediation line, through ``on_failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from app.adapters.workers import protocol as p
from app.adapters.workers.frames import Writer, read_message
from app.adapters.workers.probe import SERVERS, died, timed_out
from app.errors import DropinUnavailable, UpstreamError
from app.services.agents import DropinError
from app.settings import Settings

CRASH_LIMIT = 5
CRASH_WINDOW_S = 60.0
BACKOFF_S = (0.0, 0.1, 0.5, 1.0, 2.0)

_SECRET_NAMES = ("OPENAI_API_KEY", "LEDGERGATE_UPSTREAM_API_KEY", "LEDGERGATE_MASTER_KEY")


def worker_env(settings: Settings) -> dict[str, str]:
    """The gateway's environment without its credentials: workers never hold a key."""
    secrets = {s for s in (settings.upstream_api_key, settings.master_key) if s}
    return {k: v for k, v in os.environ.items() if k not in _SECRET_NAMES and v not in secrets}


def crashed(agent: str) -> UpstreamError:
    return UpstreamError(
        f"Agent '{agent}' stopped while answering (its worker process ended); retry the request.",
        code="dropin_crashed",
    )


class WorkerGone(Exception):
    """The worker process ended: every run it served ends with ``dropin_crashed``."""


@dataclass
class Timing:
    import_timeout_s: float
    ping_interval_s: float
    hang_timeout_s: float


class Channel:
    """One run on a worker connection: what the worker sent for it, and the gateway's tasks."""

    def __init__(self, conn: WorkerConnection, run: int, handler: Any) -> None:
        self.conn = conn
        self.run = run
        self.handler = handler  # the backend's per-run handler of model and tool calls
        # The request's context (``current_request``): the run's calls are served in it.
        self.context = contextvars.copy_context()
        self.queue: asyncio.Queue[p.Message | None] = asyncio.Queue()
        self.tasks: dict[tuple[str, int], asyncio.Task[None]] = {}

    def spawn(self, key: tuple[str, int], work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
            work,  # type: ignore[arg-type]
            context=self.context,
        )
        self.tasks[key] = task
        task.add_done_callback(lambda _t: self.tasks.pop(key, None))

    def stop(self, key: tuple[str, int]) -> None:
        if (task := self.tasks.get(key)) is not None:
            task.cancel()

    async def close(self, *, cancel: bool) -> None:
        """End the run: tell the worker if it still runs, and wind the gateway's tasks down."""
        self.conn.runs.pop(self.run, None)
        self.conn.idle.set()
        if cancel and not self.conn.dead:
            self.conn.out.send(p.RunCancel(run=self.run))
        tasks = list(self.tasks.values())
        for key, task in list(self.tasks.items()):
            # A dead worker failed its tool runs already: let the gateway record how they ended.
            if not (self.conn.dead and key[0] == "exec"):
                task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class WorkerConnection:
    """A live worker process: its pid, its socket, the runs and tool executions in flight."""

    def __init__(
        self, pid: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.pid = pid
        self.reader = reader
        self.out = Writer(writer)
        self.runs: dict[int, Channel] = {}
        self.execs: dict[int, asyncio.Future[p.ToolResult]] = {}
        self.dead = False
        self.ended = asyncio.Event()
        self.idle = asyncio.Event()  # set when a run ends (a retired worker waits for none left)
        self._ids = itertools.count(1)
        self._pongs: dict[int, asyncio.Future[None]] = {}
        self._ping_ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, timing: Timing) -> None:
        self._tasks = [
            asyncio.create_task(self._serve()),
            asyncio.create_task(self._watch(timing)),
        ]

    def open_run(self, handler: Any) -> Channel:
        if self.dead:
            raise WorkerGone
        channel = Channel(self, next(self._ids), handler)
        self.runs[channel.run] = channel
        return channel

    def exec_future(self, n: int) -> asyncio.Future[p.ToolResult]:
        future: asyncio.Future[p.ToolResult] = asyncio.get_running_loop().create_future()
        if self.dead:
            future.set_exception(WorkerGone())
        else:
            self.execs[n] = future
        return future

    async def _serve(self) -> None:
        try:
            while (m := await read_message(self.reader)) is not None:
                self._dispatch(m)
        finally:
            self._gone()

    def _dispatch(self, m: p.Message) -> None:
        if isinstance(m, p.Pong):
            if (pong := self._pongs.pop(m.n, None)) is not None and not pong.done():
                pong.set_result(None)
            return
        if isinstance(m, p.ToolResult):
            if (future := self.execs.pop(m.n, None)) is not None and not future.done():
                future.set_result(m)
            return
        channel = self.runs.get(getattr(m, "run", -1))
        if channel is None:
            return  # a run that already ended (cancelled): nobody waits for it
        if isinstance(m, p.Deltas | p.RunEnded | p.RunFailed):
            channel.queue.put_nowait(m)
        elif isinstance(m, p.ModelCall):
            channel.spawn(("model", m.call), channel.handler.model_call(m))
        elif isinstance(m, p.ModelStop):
            channel.stop(("model", m.call))
        elif isinstance(m, p.ToolCall):
            kind = "exec" if m.kind == "sdk" else "tool"  # "exec": its code runs in the worker
            channel.spawn((kind, m.n), channel.handler.tool_call(m))

    async def ping(self, timeout_s: float) -> None:
        """One round trip to the worker's event loop; ``TimeoutError`` if it does not answer."""
        n = next(self._ping_ids)
        pong: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs[n] = pong
        self.out.send(p.Ping(n=n))
        try:
            await asyncio.wait_for(pong, timeout_s)
        finally:
            self._pongs.pop(n, None)

    async def _watch(self, timing: Timing) -> None:
        """Ping the worker; kill it when it does not answer in time (a hung event loop)."""
        while not self.dead:
            await asyncio.sleep(timing.ping_interval_s)
            try:
                await self.ping(timing.hang_timeout_s)
            except TimeoutError:
                self.kill()
                return

    def _gone(self) -> None:
        if self.dead:
            return
        self.dead = True
        self.ended.set()
        self.idle.set()
        for channel in list(self.runs.values()):
            channel.queue.put_nowait(None)
        for future in self.execs.values():
            if not future.done():
                future.set_exception(WorkerGone())
        self.execs.clear()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self.out.close()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    async def close(self) -> None:
        """Stop the worker: closing the socket makes it leave; a kill makes sure."""
        self.kill()
        self._gone()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def spawn(request: p.ProbeRequest, timing: Timing) -> tuple[WorkerConnection, p.Ready]:
    """Fork a worker for ``request`` and wait for its import. Raises ``DropinError``."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        payload = msgspec.msgpack.encode(request)
        pid = await asyncio.to_thread(SERVERS.fork, payload, theirs.fileno())
    except OSError as exc:
        ours.close()
        raise DropinError(
            "worker_unavailable",
            f"the drop-in worker could not be started ({exc})",
            "Check that the gateway can start processes (ulimit -u) and see the gateway's log.",
        ) from exc
    finally:
        theirs.close()
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    conn = WorkerConnection(pid, reader, writer)
    try:
        hello = await asyncio.wait_for(read_message(reader), timing.import_timeout_s)
    except TimeoutError:
        conn.kill()
        writer.close()
        result = timed_out(timing.import_timeout_s)
        raise DropinError(result.error_type, result.message, result.remediation) from None
    if isinstance(hello, p.Ready):
        conn.start(timing)
        return conn, hello
    writer.close()
    if isinstance(hello, p.LoadFailed):
        raise DropinError(hello.error_type, hello.message, hello.remediation)
    result = died()
    raise DropinError(result.error_type, result.message, result.remediation)


class DropinWorker:
    """The worker of one drop-in, across its restarts."""

    def __init__(
        self,
        request: p.ProbeRequest,
        timing: Timing,
        on_failed: Callable[[DropinError], Awaitable[None]] | None = None,
    ) -> None:
        self.request = request
        self.name = request.name
        self.timing = timing
        self.on_failed = on_failed
        self.conn: WorkerConnection | None = None
        self.failure: DropinError | None = None
        self.retired = False
        self.starts = 0
        self._deaths: list[float] = []
        self._lock = asyncio.Lock()
        self._mourner: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    async def start(self) -> p.Ready:
        """The first start, at discovery: raises ``DropinError`` if the drop-in cannot run."""
        conn, hello = await spawn(self.request, self.timing)
        self._adopt(conn)
        return hello

    def _adopt(self, conn: WorkerConnection) -> None:
        self.conn = conn
        self.starts += 1
        self._mourner = asyncio.create_task(self._mourn(conn))

    async def _mourn(self, conn: WorkerConnection) -> None:
        await conn.ended.wait()
        if self.retired or self.conn is not conn:
            return
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < CRASH_WINDOW_S] + [now]
        if len(self._deaths) >= CRASH_LIMIT and self.failure is None:
            self.failure = DropinError(
                "worker_crashed",
                f"its worker process ended {len(self._deaths)} times within "
                f"{CRASH_WINDOW_S:g} s while serving requests",
                "Find what ends the process (os._exit, a native crash, memory over "
                "LEDGERGATE_DROPIN_MEMORY_LIMIT_MB, a tool that blocks the event loop) and fix "
                "it; the drop-in is loaded again when its files change.",
            )
            if self.on_failed is not None:
                await self.on_failed(self.failure)

    async def connection(self) -> WorkerConnection:
        """The live worker, started again (after a back-off) if the last one died."""
        conn = self.conn
        if conn is not None and not conn.dead:
            return conn
        async with self._lock:
            if self.conn is not None and not self.conn.dead:
                return self.conn
            if self.failure is not None or self.retired:
                failure = self.failure
                why = failure.message if failure else "it was unloaded"
                fix = failure.remediation if failure else "Retry the request."
                raise DropinUnavailable(f"The agent '{self.name}' is unavailable: {why}. {fix}")
            recent = [t for t in self._deaths if time.monotonic() - t < CRASH_WINDOW_S]
            await asyncio.sleep(BACKOFF_S[min(len(recent), len(BACKOFF_S) - 1)])
            try:
                conn, _hello = await spawn(self.request, self.timing)
            except DropinError as error:
                raise DropinUnavailable(
                    f"The agent '{self.name}' could not be restarted: {error.message}. "
                    f"{error.remediation}"
                ) from error
            self._adopt(conn)
            return conn

    async def retire(self) -> None:
        """Unloaded: no new runs; the worker stops once the runs it serves have ended."""
        self.retired = True
        conn = self.conn
        if conn is None:
            return
        if not conn.runs:
            await conn.close()
            return
        self._closer = asyncio.create_task(self._close_when_idle(conn))

    async def _close_when_idle(self, conn: WorkerConnection) -> None:
        while conn.runs and not conn.dead:
            await conn.idle.wait()
            conn.idle.clear()
        await conn.close()

    async def close(self) -> None:
        self.retired = True
        if self.conn is not None:
            await self.conn.close()
