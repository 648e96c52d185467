"""FastHTTPTransport on the wire: keep-alive pooling, bodies, streaming, failures as httpx2's."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx2
import msgspec
import pytest
import uvloop

from app.adapters.upstream import HttpUpstream, build_upstream, upstream_transport
from app.adapters.upstream.failures import transport_error
from app.adapters.upstream.transport import FastHTTPTransport
from app.ports.upstream import UpstreamCall
from app.services.upstream_payloads import decode_chunk, decode_completion
from app.settings import Settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.serve import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One request's body, or None when the client closed the connection first."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return await reader.readexactly(length)


class RawServer:
    """A loopback HTTP/1.1 server whose connections run ``handler(reader, writer, n)``."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.url = ""

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self.server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{port}/path?q=1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self.connections)
        except ConnectionError:
            pass
        finally:
            writer.close()


async def keep_alive_echo(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
) -> None:
    """Answers every request on the connection: content-length and chunked bodies alternate."""
    i = 0
    while (body := await read_request(reader)) is not None:
        i += 1
        if i % 2:
            writer.write(OK + b"Content-Length: %d\r\n\r\n%b" % (len(body), body))
        else:
            half = len(body) // 2
            writer.write(OK + b"Transfer-Encoding: chunked\r\n\r\n")
            writer.write(
                b"%x\r\n%b\r\n%x\r\n%b\r\n0\r\n\r\n"
                % (half, body[:half], len(body) - half, body[half:])
            )
        await writer.drain()


@pytest.fixture
async def client() -> AsyncIterator[httpx2.AsyncClient]:
    c = httpx2.AsyncClient(transport=FastHTTPTransport(), timeout=httpx2.Timeout(5.0))
    yield c
    await c.aclose()


async def test_keep_alive_reuses_one_connection_for_sequential_requests(
    client: httpx2.AsyncClient,
) -> None:
    async with RawServer(keep_alive_echo) as server:
        for i in range(6):
            r = await client.post(server.url, content=b"body-%d" % i)
            assert (r.status_code, r.content) == (200, b"body-%d" % i)
            assert r.http_version == "HTTP/1.1" and r.reason_phrase == "OK"
        assert server.connections == 1


async def test_request_head_and_streamed_chunked_request_body(client: httpx2.AsyncClient) -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        seen.append(await reader.readuntil(b"0\r\n\r\n"))
        writer.write(OK + b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b"world"

    async with RawServer(handler) as server:
        r = await client.post(server.url, content=parts(), headers={"X-Test": "1"})
        assert r.content == b"ok"
    (raw,) = seen
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /path?q=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in head and b"\r\nX-Test: 1" in head
    assert body == b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"


async def test_concurrent_requests_share_a_bounded_pool() -> None:
    transport = FastHTTPTransport(limits=httpx2.Limits(max_connections=3))
    async with httpx2.AsyncClient(transport=transport) as c, RawServer(keep_alive_echo) as server:
        bodies = [b"req-%d" % i for i in range(12)]
        answers = await asyncio.gather(*(c.post(server.url, content=b) for b in bodies))
        assert [a.content for a in answers] == bodies
        assert 1 <= server.connections <= 3


async def test_pool_timeout_when_every_connection_is_busy() -> None:
    transport = FastHTTPTransport(limits=httpx2.Limits(max_connections=1))
    timeout = httpx2.Timeout(5.0, pool=0.05)
    async with (
        httpx2.AsyncClient(transport=transport, timeout=timeout) as c,
        RawServer(keep_alive_echo) as server,
    ):
        async with c.stream("POST", server.url, content=b"held") as held:
            with pytest.raises(httpx2.PoolTimeout):
                await c.post(server.url, content=b"second")
            assert await held.aread() == b"held"
        # The held connection went back to the pool: the next request uses it.
        assert (await c.post(server.url, content=b"third")).content == b"third"
        assert server.connections == 1


async def test_sse_chunks_arrive_before_the_server_finished(client: httpx2.AsyncClient) -> None:
    first_seen = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n")
        writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
        writer.write(chunk(b"data: first\n\n"))
        await writer.drain()
        await first_seen.wait()  # the rest only once the client has the first event
        writer.write(chunk(b"data: second\n\n") + b"0\r\n\r\n")
        await writer.drain()

    async with RawServer(handler) as server, client.stream("GET", server.url) as r:
        pieces = []
        async for piece in r.aiter_bytes():
            pieces.append(piece)
            first_seen.set()
    assert pieces == [b"data: first\n\n", b"data: second\n\n"]


async def test_early_close_of_a_stream_closes_its_connection(client: httpx2.AsyncClient) -> None:
    client_gone = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            await read_request(reader)
            writer.write(OK + b"Transfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            assert await reader.read() == b""  # the client closed the connection
            client_gone.set()
        else:
            await keep_alive_echo(reader, writer, n)

    async with RawServer(handler) as server:
        async with client.stream("GET", server.url) as r:
            async for piece in r.aiter_bytes():
                assert piece == b"first"
                break
        await client_gone.wait()
        assert (await client.post(server.url, content=b"next")).content == b"next"
        assert server.connections == 2


async def test_idle_connection_closed_by_server_is_replaced(client: httpx2.AsyncClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)  # one answer, keep-alive announced, then the server closes
        writer.write(OK + b"Content-Length: 2\r\n\r\nok")
        await writer.drain()

    async with RawServer(handler) as server:
        for _ in range(3):
            assert (await client.get(server.url)).content == b"ok"
        assert server.connections == 3


async def test_stale_keep_alive_race_is_retried_once_on_a_new_connection(
    client: httpx2.AsyncClient,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:  # answers once, then drops the next request unanswered (a keep-alive race)
            await read_request(reader)
            writer.write(OK + b"Content-Length: 2\r\n\r\nok")
            await writer.drain()
            await read_request(reader)
            return
        await keep_alive_echo(reader, writer, n)

    async with RawServer(handler) as server:
        assert (await client.get(server.url)).content == b"ok"
        assert (await client.post(server.url, content=b"again")).content == b"again"
        assert server.connections == 2


async def test_fresh_connection_closed_without_answer_is_not_retried(
    client: httpx2.AsyncClient,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)

    async with RawServer(handler) as server:
        with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
            await client.get(server.url)
        assert server.connections == 1


async def test_connection_refused_is_connect_error(client: httpx2.AsyncClient) -> None:
    with pytest.raises(httpx2.ConnectError):  # nothing listens on a free port
        await client.get(f"http://127.0.0.1:{free_port()}/")


async def test_no_answer_is_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        await reader.read()  # never answers; returns when the client gives up

    timeout = httpx2.Timeout(5.0, read=0.05)
    async with (
        httpx2.AsyncClient(transport=FastHTTPTransport(), timeout=timeout) as c,
        RawServer(handler) as server,
    ):
        with pytest.raises(httpx2.ReadTimeout):
            await c.get(server.url)


@pytest.mark.parametrize(
    "answer",
    [
        OK + b"Content-Length: 100\r\n\r\nonly ten b",
        OK + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ],
)
async def test_body_cut_short_is_remote_protocol_error(
    client: httpx2.AsyncClient, answer: bytes
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()

    async with RawServer(handler) as server:
        with pytest.raises(httpx2.RemoteProtocolError) as caught:
            await client.get(server.url)
    # The same wording as httpcore's; the gateway maps it by type and by whether the answer
    # had begun, never by this text.
    assert "message body" in str(caught.value)
    assert transport_error(caught.value, begun=True).code == "upstream_stream_broken"


async def test_malformed_status_line_is_remote_protocol_error(client: httpx2.AsyncClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTX/9 what\r\n\r\n")
        await writer.drain()

    async with RawServer(handler) as server:
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.get(server.url)


def _real(fake: FakeUpstream, *, transport: str = "fast") -> HttpUpstream:
    settings = Settings(
        upstream_api_key="sk-test",
        upstream_base_url=fake.base_url,
        upstream_models=("*",),
        upstream_transport=transport,  # type: ignore[arg-type]
    )
    return build_upstream(settings)


def _call(text: str, *, stream: bool) -> UpstreamCall:
    body = {"model": "m", "messages": [{"role": "user", "content": text}], "stream": stream}
    return UpstreamCall(body=body)


def _text(data: bytes) -> str:
    chunk = decode_chunk(data)
    delta = chunk.choices[0].delta if chunk.choices else None
    return (delta.content if delta is not None else None) or ""


async def _whole(up: HttpUpstream, text: str) -> str:
    (body,) = [data async for data in up.send(_call(text, stream=False))]
    choices = decode_completion(body).choices or []
    message = choices[0].message if choices else None
    return (message.content if message is not None else None) or ""


def test_the_stock_transport_is_the_default_and_fast_only_without_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(upstream_api_key="sk-test", upstream_base_url="https://api.example.com/v1")
    fast = msgspec.structs.replace(settings, upstream_transport="fast")
    # None: the client's own transport, httpx2's stock one (environment proxies honoured).
    assert upstream_transport(settings) is None
    assert upstream_transport(msgspec.structs.replace(settings, upstream_transport="httpx")) is None
    assert isinstance(upstream_transport(fast), FastHTTPTransport)
    # A proxy for another scheme does not apply; one for the upstream's scheme, or for all, does.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    assert isinstance(upstream_transport(fast), FastHTTPTransport)
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:3128")
    assert upstream_transport(fast) is None
    monkeypatch.delenv("ALL_PROXY")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert upstream_transport(fast) is None
    # NO_PROXY is httpx2's to apply, by its own rules: the stock transport, which then calls the
    # upstream directly (tests/api/test_upstream_boundary.py).
    monkeypatch.setenv("NO_PROXY", "example.com")
    assert upstream_transport(fast) is None


@pytest.mark.parametrize("transport", ["fast", "stock"])
async def test_port_calls_through_build_upstream(
    fake_upstream: FakeUpstream, transport: str
) -> None:
    up = _real(fake_upstream, transport=transport)
    try:
        fake_upstream.text("one two three four", chunks=4)
        texts = [_text(data) async for data in up.send(_call("hi", stream=True))]
        assert "".join(texts) == "one two three four"
        fake_upstream.default = fake_upstream.default.text_of("whole answer")
        answers = await asyncio.gather(*(_whole(up, f"hi {i}") for i in range(8)))
        assert answers == ["whole answer"] * 8
        assert len(fake_upstream.requests) == 9
    finally:
        await up.close()


async def test_port_streams_sse_from_the_fake(fake_upstream: FakeUpstream) -> None:
    up = _real(fake_upstream)
    try:
        fake_upstream.text("a b c", chunks=3)
        events = [data async for data in up.send(_call("x", stream=True))]
        # role chunk, three deltas, the finish chunk; [DONE] ends the stream, not passed on
        assert len(events) == 5 and all(e.startswith(b"{") for e in events)
    finally:
        await up.close()


def test_works_on_uvloop() -> None:
    """The gateway runs on uvloop, whose transports are not ``asyncio.Transport`` subclasses."""

    async def main() -> list[bytes]:
        async with (
            httpx2.AsyncClient(transport=FastHTTPTransport()) as c,
            RawServer(keep_alive_echo) as server,
        ):
            answers = [(await c.post(server.url, content=b"u%d" % i)).content for i in range(3)]
            assert server.connections == 1
            return answers

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(main()) == [b"u0", b"u1", b"u2"]


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = [
        *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
        *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
        *("-addext", "subjectAltName=IP:127.0.0.1"),
    ]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


async def test_https_with_keep_alive(tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    transport = FastHTTPTransport(ssl_context=ssl.create_default_context(cafile=str(cert)))
    async with (
        httpx2.AsyncClient(transport=transport) as c,
        RawServer(keep_alive_echo, tls=server_tls) as server,
    ):
        assert server.url.startswith("https://")
        for i in range(3):
            assert (await c.post(server.url, content=b"tls-%d" % i)).content == b"tls-%d" % i
        assert server.connections == 1
    # Not trusted without the test CA: a failed handshake is a ConnectError.
    async with (
        httpx2.AsyncClient(transport=FastHTTPTransport()) as c,
        RawServer(keep_alive_echo, tls=server_tls) as server,
    ):
        with pytest.raises(httpx2.ConnectError):
            await c.get(server.url)
