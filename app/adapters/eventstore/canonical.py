"""RFC 8785 (JCS) canonical JSON for payloads, and the hash chain's bytes for one event.

Payloads are canonicalised once, on the producer's side, before they reach the writer; the writer
then builds each event's canonical envelope by concatenation (its keys are fixed ASCII, so their
sorted order is fixed) and hashes it. ``tests/eventstore/test_canonical.py`` proves the bytes
identical to the ``rfc8785`` library's over arbitrary JSON.

JSON that JCS cannot represent is kept, never refused (the store must not fail an append on
valid JSON):

* an integer outside ±(2**53 - 1) that a double holds exactly (``2**60``, ``10**21``), or whose
  digits are exactly how JCS writes the nearest double (so canonical output is a fixed point),
  stays a number, written as JCS writes that double (``1e+21``); any other (e.g. a request's
  ``seed`` of ``12345678901234567891``) is stored as a JSON *string* of its exact decimal
  digits, so no digit is lost and any JCS library can hash it;
* a number too large for a double (``1e400``) is likewise stored as the string of its source text;
* a lone UTF-16 surrogate in a string (``"\\ud800"``) becomes U+FFFD.

A producer that holds the payload as an event Struct can skip the parse: ``domain.ports.new_event``
encodes it once with sorted keys and, when those bytes are provably JCS already, returns a
``CanonicalEvent``, which ``base.prepare`` keeps as it is.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import rfc8785

ZERO_HASH = bytes(32)
ZERO_HEX = "0" * 64
MAX_SAFE_INT = 2**53 - 1

_encoder = msgspec.json.Encoder(order="sorted")
_encode_str = msgspec.json.Encoder().encode


class _SlowPath(Exception):
    """The payload holds a float: msgspec's number format is not ECMAScript's, use rfc8785."""


def _no_floats(text: str) -> Any:
    raise _SlowPath(text)


_fast_decoder = msgspec.json.Decoder(float_hook=_no_floats)
# 16+ digits may exceed 2**53; 4-byte UTF-8 (astral plane) sorts differently in UTF-16 order.
_RISKY_INPUT = re.compile(rb"[0-9\\](?:(?<=[0-9])[0-9]{15}|(?<=\\)u[dD][89abAB])")
_ASTRAL = re.compile(rb"[\xf0-\xf4]")


def canonical_object(data: bytes) -> bytes:
    """The JCS bytes of the JSON object ``data``.

    Raises:
        ValueError: ``data`` is not JSON, or not a JSON object.
    """
    if data == b"{}":
        return data
    if not _RISKY_INPUT.search(data):
        try:
            obj = _fast_decoder.decode(data)
        except _SlowPath:
            pass
        except msgspec.DecodeError:
            pass  # maybe lone surrogates, which the stdlib parser accepts
        else:
            if not isinstance(obj, dict):
                raise ValueError("event data and meta must be JSON objects")
            out = _encoder.encode(obj)
            if not _ASTRAL.search(out):
                return out
    return _canonical_slow(data)


def _parse_int(text: str) -> int | float | str:
    value = int(text)
    if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        return value
    if abs(value) >= 2**1024:
        return text
    as_double = float(value)
    # Keep a number when the double is exact, or when JCS writes the double as these very digits.
    if int(as_double) == value or rfc8785.dumps(as_double) == str(value).encode():
        return as_double
    return text


def _parse_float(text: str) -> float | str:
    value = float(text)
    return value if value not in (float("inf"), float("-inf")) else text


def _fix_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_fix_surrogates(k): _fix_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix_surrogates(v) for v in value]
    return value


def _canonical_slow(data: bytes) -> bytes:
    try:
        obj = json.loads(data, parse_int=_parse_int, parse_float=_parse_float)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"event data and meta must be JSON: {e}") from e
    if not isinstance(obj, dict):
        raise ValueError("event data and meta must be JSON objects")
    try:
        out: bytes = rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError:  # lone surrogates: the only other thing it refuses
        out = rfc8785.dumps(_fix_surrogates(obj))
    return out


def canonical_string(value: str) -> bytes:
    """A JSON string as JCS writes it (msgspec escapes exactly the same characters)."""
    return _encode_str(value)


_ENVELOPE = (
    b'{"data":%b,"event_id":"%b","meta":%b,"position":%d,"prev_hash":"%b","recorded_at":"%b",'
    b'"schema_version":%d,"stream":%b,"type":%b,"version":%d}'
)


def envelope_bytes(  # noqa: PLR0917 - the hot path: no kwargs dict per event
    position: int,
    event_id: str,
    stream_json: bytes,
    version: int,
    type_json: bytes,
    schema_version: int,
    recorded_at: str,
    data: bytes,
    meta: bytes,
    prev_hash_hex: str,
) -> bytes:
    """The JCS bytes of the exported event without ``hash`` (keys in sorted order).

    ``stream_json``/``type_json`` are ``canonical_string`` outputs; ``data``/``meta`` canonical.
    """
    return _ENVELOPE % (
        data,
        event_id.encode(),
        meta,
        position,
        prev_hash_hex.encode(),
        recorded_at.encode(),
        schema_version,
        stream_json,
        type_json,
        version,
    )


def chain_hash(envelope: bytes) -> bytes:
    """The 32-byte SHA-256 of an envelope (the export's ``hash`` is its hex)."""
    return hashlib.sha256(envelope).digest()


_second_prefix: dict[int, str] = {}


def format_recorded_at(micros: int) -> str:
    """RFC 3339 UTC with microseconds and ``Z`` from epoch microseconds (cached per second)."""
    seconds, us = divmod(micros, 1_000_000)
    prefix = _second_prefix.get(seconds)
    if prefix is None:
        if len(_second_prefix) > 4096:
            _second_prefix.clear()
        prefix = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_prefix[seconds] = prefix
    return f"{prefix}.{us:06d}Z"


def now_micros() -> int:
    return time.time_ns() // 1000
