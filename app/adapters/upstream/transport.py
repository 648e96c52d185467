"""A lean HTTP/1.1 keep-alive connection pool for httpx2 (asyncio Protocol + httptools).

The opt-in transport under ``HttpUpstream``'s ``httpx2.AsyncClient``
(``LEDGERGATE_UPSTREAM_TRANSPORT=fast``; httpx2's stock one is the default, and is used anyway
when the environment names a proxy, see ``upstream_transport``). httpcore2 polls every idle pooled
socket twice per request, sends head and body in two writes through anyio, and runs h11 in
Python once per HTTP chunk (each SSE event, through five generator layers): 0.5 ms more CPU per
call, 1.2 ms per 35-chunk stream, half a worker's throughput (docs/performance.md).
Here an idle connection learns that the server closed it from ``connection_lost`` (no polling),
responses are parsed by httptools (C), and bodies are handed over as they arrive, bounded by
pausing the socket. Failures are raised as the httpx2 errors httpcore2 would give, so
``upstream.failures.transport_error`` maps them by type.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, cast

import httptools
import httpx2

# Buffered body bytes before the socket stops being read (backpressure on a slow consumer).
_HIGH_WATER = 256 * 1024
_NO_RESPONSE = "Server disconnected without sending a response."
_CUT_BODY = "peer closed connection without sending complete message body"
_DEFAULT_PORT = {b"http": 80, b"https": 443}

Origin = tuple[bytes, bytes, int]


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, pool: FastHTTPTransport, origin: Origin) -> None:
        self.pool = pool
        self.origin = origin
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.counted = True  # holds one of the pool's connection slots
        self.in_pool = False
        self.reused = False
        self.idle_since = 0.0
        self.writable = True
        self.waiter: asyncio.Future[bool] | None = None
        self.reset()

    def reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.active = False
        self.received = False
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.until_close = False  # no length given: the body ends when the server closes
        self.extra = False  # bytes past the end of the response: never reuse
        self.body: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.error: Exception | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.active or self.complete:
            self.extra = True
            self.close()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # httptools' parse errors, an upgrade we never asked for
            self.error = httpx2.RemoteProtocolError(f"Malformed HTTP response: {exc}")
            self.close()
        self.wake()

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.active and not self.complete and self.error is None:
            if isinstance(exc, OSError):
                self.error = httpx2.ReadError(str(exc) or type(exc).__name__)
            elif not self.headers_done:
                self.error = httpx2.RemoteProtocolError(_NO_RESPONSE)
            elif self.until_close:
                self.complete = True
            else:
                self.error = httpx2.RemoteProtocolError(_CUT_BODY)
        self.writable = True
        self.wake()
        if self.in_pool:
            self.pool._lost_idle(self)

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        self.wake()

    # httptools callbacks

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code()
        names = {k.lower() for k, _ in self.headers}
        self.until_close = b"content-length" not in names and b"transfer-encoding" not in names

    def on_body(self, body: bytes) -> None:
        if self.complete:
            self.extra = True
            return
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.complete:
            self.extra = True
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()

    # used by the pool and the body stream

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def wait(self, timeout: float | None) -> bool:
        """Until something happens (True) or ``timeout`` passes (False)."""
        waiter: asyncio.Future[bool] = self.loop.create_future()
        self.waiter = waiter
        timer = self.loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            return await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.extra and not self.closed

    async def write(self, data: bytes, timeout: float | None) -> None:
        if self.closed or self.transport is None:
            raise self.error or httpx2.WriteError("The connection is closed.")
        self.transport.write(data)
        while not self.writable and not self.closed:
            if not await self.wait(timeout):
                raise httpx2.WriteTimeout("Timed out while sending the request.")

    async def send(self, request: httpx2.Request, head: bytes, timeouts: dict[str, Any]) -> None:
        """Send ``request`` and wait for the response's status line and headers."""
        self.active = True
        write_timeout = timeouts.get("write")
        try:
            body = request.content
        except httpx2.RequestNotRead:
            await self.write(head, write_timeout)
            chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
            assert isinstance(request.stream, httpx2.AsyncByteStream)
            async for piece in request.stream:
                if piece:
                    framed = b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece
                    await self.write(framed, write_timeout)
            if chunked:
                await self.write(b"0\r\n\r\n", write_timeout)
        else:
            await self.write(head + body, write_timeout)
        read_timeout = timeouts.get("read")
        while not self.headers_done:
            if self.error is not None:
                raise self.error
            if not await self.wait(read_timeout):
                raise httpx2.ReadTimeout("Timed out while waiting for the response.")
        if request.method == "HEAD":
            self.complete, self.keep_alive = True, False

    async def next_piece(self, timeout: float | None) -> bytes | None:
        """The body bytes that arrived since the last call, ``None`` at the end."""
        while True:
            if self.body:
                pieces = self.body
                data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                self.body = []
                self.buffered = 0
                if self.paused and not self.closed and self.transport is not None:
                    self.paused = False
                    self.transport.resume_reading()
                return data
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            if not await self.wait(timeout):
                raise httpx2.ReadTimeout("Timed out while reading the response body.")


class _Body(httpx2.AsyncByteStream):
    """A response body as it arrives; the connection goes back to the pool once it is read."""

    def __init__(self, pool: FastHTTPTransport, conn: _Connection, timeout: float | None) -> None:
        self._pool = pool
        self._conn: _Connection | None = conn
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            raise httpx2.StreamClosed()
        try:
            while (piece := await conn.next_piece(self._timeout)) is not None:
                yield piece
        except BaseException:
            self._done(reuse=False)
            raise
        self._done(reuse=True)

    def _done(self, *, reuse: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._release(conn, reuse=reuse)

    async def aclose(self) -> None:
        # Closed before the end: the rest of the body would still arrive on this socket.
        conn = self._conn
        self._done(reuse=conn is not None and conn.complete and not conn.body)


class FastHTTPTransport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 with a keep-alive pool per (scheme, host, port), limits as httpx's."""

    def __init__(
        self,
        limits: httpx2.Limits | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        limits = limits or httpx2.Limits()
        unbounded = 1 << 30
        self._max = limits.max_connections or unbounded
        idle_limit = limits.max_keepalive_connections
        self._max_idle = unbounded if idle_limit is None else idle_limit
        self._expiry = limits.keepalive_expiry
        self._ssl = ssl_context
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._idle_count = 0
        self._count = 0  # connections open or opening
        self._waiters: deque[asyncio.Future[bool]] = deque()
        self._closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        url = request.url
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORT:
            raise httpx2.UnsupportedProtocol(f"Unsupported URL scheme {scheme!r}.")
        origin = (scheme, url.raw_host, url.port or _DEFAULT_PORT[scheme])
        head = _head(request)
        replayable = True
        try:
            request.content  # noqa: B018 - a streamed body cannot be sent twice
        except httpx2.RequestNotRead:
            replayable = False
        conn = await self._acquire(origin, timeouts, fresh=False)
        try:
            await conn.send(request, head, timeouts)
        except httpx2.TransportError as exc:
            self._release(conn, reuse=False)
            # A kept-alive connection the server closed just as we reused it: nothing of a
            # response came back, so the request is sent again, once, on a new connection.
            stale = (
                conn.reused and not conn.received and not isinstance(exc, httpx2.TimeoutException)
            )
            if not (stale and replayable):
                raise
            conn = await self._acquire(origin, timeouts, fresh=True)
            try:
                await conn.send(request, head, timeouts)
            except BaseException:
                self._release(conn, reuse=False)
                raise
        except BaseException:
            self._release(conn, reuse=False)
            raise
        version = conn.parser.get_http_version()
        return httpx2.Response(
            status_code=conn.status,
            headers=conn.headers,
            stream=_Body(self, conn, timeouts.get("read")),
            extensions={"http_version": b"HTTP/" + version.encode(), "reason_phrase": conn.reason},
        )

    async def _acquire(
        self, origin: Origin, timeouts: dict[str, Any], *, fresh: bool
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise httpx2.ConnectError("The transport is closed.")
            idle = self._idle.get(origin)
            if idle and not fresh:
                now = loop.time()
                while idle:
                    conn = idle.pop()  # the most recently used: the least likely to be stale
                    conn.in_pool = False
                    self._idle_count -= 1
                    if conn.closed or (
                        self._expiry is not None and now - conn.idle_since > self._expiry
                    ):
                        self._drop(conn)
                        continue
                    conn.reused = True
                    return conn
            if self._count < self._max:
                return await self._connect(origin, timeouts.get("connect"))
            if self._evict():
                continue
            waiter: asyncio.Future[bool] = loop.create_future()
            self._waiters.append(waiter)
            pool_timeout = timeouts.get("pool")
            timer = None
            if pool_timeout is not None:
                timer = loop.call_later(pool_timeout, _expire, waiter)
            try:
                if not await waiter:
                    raise httpx2.PoolTimeout("Timed out waiting for a free connection.")
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.result():
                    self._wake_waiter()  # woken, then cancelled: pass the free slot on
                raise
            finally:
                if timer is not None:
                    timer.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _evict(self) -> bool:
        """Close the longest-idle connection of any origin to make room; False if none."""
        for idle in self._idle.values():
            if idle:
                conn = idle.popleft()
                conn.in_pool = False
                self._idle_count -= 1
                self._drop(conn)
                return True
        return False

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if scheme == b"https":
            if self._ssl is None:
                # The trust store httpx2's own transport uses (certifi, SSL_CERT_FILE/DIR).
                self._ssl = httpx2.create_ssl_context()
            tls = self._ssl
        self._count += 1
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, origin),
                    host.decode("ascii"),
                    port,
                    ssl=tls,
                    server_hostname=host.decode("ascii") if tls is not None else None,
                )
        except BaseException as exc:
            self._count -= 1
            self._wake_waiter()
            if isinstance(exc, TimeoutError):  # an OSError too: test it first
                raise httpx2.ConnectTimeout("Timed out while connecting.") from exc
            if isinstance(exc, OSError):
                raise httpx2.ConnectError(str(exc) or type(exc).__name__) from exc
            raise
        return conn

    def _release(self, conn: _Connection, *, reuse: bool) -> None:
        if reuse and conn.reusable() and not self._closed and self._idle_count < self._max_idle:
            conn.reset()
            conn.idle_since = conn.loop.time()
            conn.in_pool = True
            self._idle.setdefault(conn.origin, deque()).append(conn)
            self._idle_count += 1
        else:
            self._drop(conn)
        self._wake_waiter()

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        if conn.counted:
            conn.counted = False
            self._count -= 1

    def _lost_idle(self, conn: _Connection) -> None:
        """An idle connection the server closed: forget it now, free its slot."""
        idle = self._idle.get(conn.origin)
        if idle is not None and conn in idle:
            idle.remove(conn)
            self._idle_count -= 1
        conn.in_pool = False
        self._drop(conn)
        self._wake_waiter()

    def _wake_waiter(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            while idle:
                conn = idle.pop()
                conn.in_pool = False
                self._drop(conn)
        self._idle_count = 0
        while self._waiters:  # they wake to find the transport closed
            self._wake_waiter()


def _head(request: httpx2.Request) -> bytes:
    """Request line and headers, as sent."""
    url = request.url
    parts = [request.method.encode("ascii"), b" ", url.raw_path, b" HTTP/1.1\r\n"]
    host = False
    for name, value in request.headers.raw:
        host = host or name.lower() == b"host"
        parts += (name, b": ", value, b"\r\n")
    if not host:
        netloc = url.netloc
        parts[4:4] = (b"Host: ", netloc, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
