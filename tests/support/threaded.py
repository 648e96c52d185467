"""Run an ASGI app under uvicorn on a free loopback port, in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")


class _Server(uvicorn.Server):
    """A uvicorn server that tells the starting thread when it is listening (or has failed)."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self._ready.set()


class ThreadedUvicorn:
    """uvicorn serving ``app`` on 127.0.0.1:<free port> in a background thread.

    Signal handlers are not installed: uvicorn skips them off the main thread.
    """

    def __init__(self, app: Any, *, lifespan: str = "on", name: str = "uvicorn") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._ready = threading.Event()
        config = uvicorn.Config(
            app,
            lifespan=lifespan,  # type: ignore[arg-type]
            interface="asgi3",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
        )
        self._server = _Server(config, self._ready)
        self.loop = asyncio.new_event_loop()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start(self, timeout: float = 20.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("server did not start in time")
        if not self._server.started:
            self._thread.join(5)
            raise RuntimeError(f"server failed to start: {self._error!r}") from self._error

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, timeout: float = 30.0) -> T:
        """Run ``await fn(*args)`` on the server's loop and return its result."""

        async def runner() -> T:
            return await fn(*args)

        coro: Coroutine[Any, Any, T] = runner()
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._sock.close()
