"""Encode payloads; decode stored ones of any shipped schema version to today's Structs.

An upcaster turns the JSON object of ``(type, v)`` into the object of ``(type, v + 1)``; decoding
runs the chain up to the Struct's current ``SCHEMA_VERSION``. History is never edited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from domain.events import EVENT_TYPES, Event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}

_encoder = msgspec.json.Encoder()
_decoders: dict[type[Event], msgspec.json.Decoder[Any]] = {}


class UnknownEventType(LookupError):
    """A stored event whose type this code base does not know."""


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register ``fn`` as the step ``from_version`` → ``from_version + 1`` of ``event_type``."""

    def register(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in UPCASTERS:
            raise ValueError(f"upcaster registered twice: {key}")
        UPCASTERS[key] = fn
        return fn

    return register


def encode(event: Event) -> bytes:
    """The payload's JSON bytes (fields only; type and schema version live in the envelope)."""
    return _encoder.encode(event)


def decode(
    event_type: str,
    schema_version: int,
    data: bytes,
    upcasters: dict[tuple[str, int], Upcaster] | None = None,
) -> Event:
    """Decode a stored payload into today's Struct, upcasting older schema versions first."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(event_type)
    if schema_version == cls.SCHEMA_VERSION:
        decoder = _decoders.get(cls)
        if decoder is None:
            decoder = _decoders[cls] = msgspec.json.Decoder(cls)
        return decoder.decode(data)  # type: ignore[no-any-return]
    chain = UPCASTERS if upcasters is None else upcasters
    obj: dict[str, Any] = msgspec.json.decode(data)
    version = schema_version
    while version < cls.SCHEMA_VERSION:
        step = chain.get((event_type, version))
        if step is None:
            raise UnknownEventType(f"{event_type} v{version}: no upcaster to v{version + 1}")
        obj = step(obj)
        version += 1
    if version != cls.SCHEMA_VERSION:
        raise UnknownEventType(f"{event_type} v{schema_version} is newer than this code base")
    return msgspec.convert(obj, cls)


# --- the shipped steps ------------------------------------------------------------------------


@upcaster("request.received", 1)
def _received_api(obj: dict[str, Any]) -> dict[str, Any]:
    # v1 had one route: every request came in on chat completions.
    return {**obj, "api": "chat_completions"}


@upcaster("key.issued", 1)
def _key_issued_v1(obj: dict[str, Any]) -> dict[str, Any]:
    return obj  # v2 added ``auditor``; a v1 key is not an auditor (the field's default)


@upcaster("request.completed", 1)
def _request_completed_v1(obj: dict[str, Any]) -> dict[str, Any]:
    # v2 added the optional ``held`` (absent: nothing was held back).
    return obj
