"""Identifiers: time-ordered UUIDv7 for events (cheap to index), request ids for completions."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> str:
    """A UUIDv7 string (RFC 9562): 48-bit unix milliseconds, then random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & 0x3FFF_FFFF_FFFF_FFFF
    return str(uuid.UUID(int=value))


def new_request_id() -> str:
    """A completion id in OpenAI's style, also the request's stream key."""
    return "chatcmpl-" + uuid7().replace("-", "")
