"""A small forward HTTP proxy on loopback that records every request line it relays.

Plain-HTTP forwarding only (what a client sends to an ``http://`` upstream through
``HTTP_PROXY``): the request line arrives in absolute form (``POST http://host:port/path``);
it is recorded, rewritten to origin form, and the connection is piped to the target both ways.
One target per client connection (keep-alive requests on it go to the same origin).
Runs its own event loop in a thread, like the other test servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import urlsplit


class RecordingProxy:
    def __init__(self) -> None:
        self.requests: list[str] = []  # "POST http://127.0.0.1:1234/v1/chat/completions"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recording-proxy", daemon=True)
        self.url = ""

    def start(self) -> RecordingProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the recording proxy did not start")
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self.loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        async with server:
            await self._stopping.wait()
        # Connections still piping (keep-alive clients) end with the loop.
        pending = asyncio.all_tasks() - {asyncio.current_task()}
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            line = await reader.readline()
            method, target, version = line.decode("latin-1").split(" ", 2)
            self.requests.append(f"{method} {target}")
            parts = urlsplit(target)
            up_reader, upstream = await asyncio.open_connection(parts.hostname, parts.port or 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            upstream.write(f"{method} {path} {version}".encode("latin-1"))
            await asyncio.gather(self._pipe(reader, upstream), self._pipe(up_reader, writer))
        except (ConnectionError, ValueError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            for w in (upstream, writer):
                if w is not None:
                    w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()
