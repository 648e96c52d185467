"""Length-prefixed msgpack frames over an asyncio stream, and ``GatewayError``s on the wire.

A frame is a 4-byte big-endian length and one msgpack ``Message``. Both ends (the gateway's
``WorkerConnection`` and the worker process) read with ``read_message`` and write with
``Writer``, which batches the frames written in one loop iteration into one ``write`` (an
upstream stream's events or a run's deltas often come in bursts).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

import msgspec

from app import errors
from app.adapters.workers.protocol import ErrorFields, Message
from app.errors import GatewayError

_HEADER = struct.Struct("!I")
MAX_FRAME = 64 * 1024 * 1024
_HIGH_WATER = 256 * 1024
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode(message: Message) -> bytes:
    body = _encoder.encode(message)
    return _HEADER.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> Message | None:
    """The next message, or None at the end of the stream (the other side is gone)."""
    try:
        header = await reader.readexactly(4)
        (size,) = _HEADER.unpack(header)
        if size > MAX_FRAME:
            return None
        message: Message = _decoder.decode(await reader.readexactly(size))
        return message
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


class Writer:
    """Writes frames; those written within one loop iteration leave in one system call."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._batch: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def send(self, message: Message) -> None:
        if not self._batch:
            self._loop.call_soon(self._flush)
        self._batch.append(encode(message))

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if batch and not self.writer.is_closing():
            self.writer.write(b"".join(batch))

    async def drain(self) -> None:
        """Wait while the other side is slow to read (backpressure)."""
        self._flush()
        if not self.writer.is_closing():
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    async def pace(self) -> None:
        """Drain only when a lot is waiting to be written: cheap to call after every frame."""
        transport = self.writer.transport
        if transport.get_write_buffer_size() > _HIGH_WATER:
            await self.drain()

    def close(self) -> None:
        self._flush()
        self.writer.close()


def _public_class(exc: GatewayError) -> type[GatewayError]:
    # Adapters raise private subclasses (an upstream 429 is ``_RateLimited``): name the public one.
    for cls in type(exc).__mro__:
        if cls.__module__ == errors.__name__ and issubclass(cls, GatewayError):
            return cls
    return GatewayError


def error_fields(exc: GatewayError) -> ErrorFields:
    return ErrorFields(
        cls=_public_class(exc).__name__,
        message=exc.message,
        status=exc.status,
        error_type=exc.error_type,
        code=exc.code,
        param=exc.param,
    )


def gateway_error(fields: ErrorFields) -> GatewayError:
    """The same ``GatewayError`` class and fields as the side that raised it."""
    cls = getattr(errors, fields.cls, GatewayError)
    if not (isinstance(cls, type) and issubclass(cls, GatewayError)):
        cls = GatewayError
    return cls(
        fields.message,
        code=fields.code,
        param=fields.param,
        status=fields.status,
        error_type=fields.error_type,
    )
