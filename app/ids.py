"""Identifiers: time-ordered UUIDv7 for events (cheap to index), request ids for completions."""

from __future__ import annotations

import os
import time


class _Clock:
    """Per-process UUIDv7 state: the last millisecond used, its formatted prefix, a counter.

    RFC 9562 §6.2 method 1 with a 62-bit counter in ``rand_b``: ``rand_a`` is random once per
    process and the counter starts at a random value below 2**61, so ids from one process are
    strictly increasing (even if the wall clock steps back) and two processes collide only if
    they pick the same 74 random bits in the same millisecond. One random draw per process
    instead of an ``os.urandom`` call and a ``uuid.UUID`` per event.
    """

    __slots__ = ("ms", "prefix", "rand_a", "seq")

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        """Draw new random bits at the next id (lazily: no syscall at import time)."""
        self.rand_a = -1
        self.seq = 0
        self.ms = -1
        self.prefix = ""

    def next(self) -> str:
        ms = time.time_ns() // 1_000_000
        if ms > self.ms:
            if self.rand_a < 0:
                rand = int.from_bytes(os.urandom(10), "big")
                self.rand_a = rand >> 68  # 12 bits
                self.seq = rand & (2**61 - 1)
            self.ms = ms
            ts = f"{ms & 0xFFFF_FFFF_FFFF:012x}"
            self.prefix = f"{ts[:8]}-{ts[8:]}-7{self.rand_a:03x}-"
        self.seq += 1
        tail = f"{0x8000_0000_0000_0000 | self.seq & 0x3FFF_FFFF_FFFF_FFFF:016x}"
        return f"{self.prefix}{tail[:4]}-{tail[4:]}"


_clock = _Clock()
os.register_at_fork(after_in_child=_clock.reseed)  # a forked worker must not repeat our ids


def uuid7() -> str:
    """A UUIDv7 string (RFC 9562): 48-bit unix milliseconds, then 74 unique-per-process bits."""
    return _clock.next()


def random_uuid7() -> str:
    """A UUIDv7 string whose 74 low bits are all fresh random (unguessable from its neighbours)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & 0x3FFF_FFFF_FFFF_FFFF
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_request_id() -> str:
    """A completion id in OpenAI's style, also the request's stream key (random, not counted)."""
    return "chatcmpl-" + random_uuid7().replace("-", "")


def new_response_id() -> str:
    """A Responses API id (``resp_<32 hex>``), also the request's stream key, like the above."""
    return "resp_" + random_uuid7().replace("-", "")
