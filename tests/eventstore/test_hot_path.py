"""The append hot path's shortcuts keep the log's bytes and guarantees: ids, canonical payloads,
statement shapes and bounded writer caches."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from app.adapters.eventstore import base, event_ids, open_event_store, sqlite_writer
from app.adapters.eventstore.base import prepare
from app.adapters.eventstore.canonical import canonical_object
from app.adapters.eventstore.export import verify
from app.ids import new_request_id, uuid7
from app.settings import Settings
from domain.events import StreamDelta
from domain.ports import ANY, CanonicalEvent, canonical_payload, new_event

SAFE = 2**53 - 1
# Mostly plain text (so most payloads are provable), with every kind of trap mixed in.
plain = st.text(alphabet='abcxyz é_-\n"\\', max_size=6)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-SAFE, SAFE)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | plain
    | st.text(max_size=4)
    | st.sampled_from(["1.5", "9e9", "x\U0001f600", "\ufb33", "\u2028\x7f\x1f"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain, inner, max_size=3),
    max_leaves=8,
)
keys = plain | st.sampled_from(["\U0001f600", "\ufb33", "\x00"]) | st.text(max_size=3)
objects = st.dictionaries(keys, json_values, max_size=4)


@settings(max_examples=400, deadline=None)
@given(objects)
def test_a_proven_payload_is_exactly_what_the_store_would_store(obj: dict[str, Any]) -> None:
    out = canonical_payload(obj)
    stored = canonical_object(json.dumps(obj).encode())  # the store's own path
    if out is not None:
        assert out == stored == rfc8785.dumps(obj)


def test_typical_events_are_proven_and_risky_ones_are_not() -> None:
    delta = StreamDelta(seq=12, delta={"content": "Hello, wörld\n"})
    event = new_event(delta, uuid7())
    assert type(event) is CanonicalEvent
    assert event.data == b'{"delta":{"content":"Hello, w\xc3\xb6rld\\n"},"seq":12}'
    for risky in ({"x": 0.5}, {"x": 2**60}, {"\U0001f600": 1, "\ufb33": 2}, {"t": "v1.2"}):
        assert canonical_payload(risky) is None
        event = new_event(StreamDelta(seq=1, delta=risky), uuid7())
        assert type(event) is not CanonicalEvent
    assert canonical_payload({1: "int keys"}) is None  # sorted order refuses them


def test_prepare_keeps_proven_events_and_canonicalises_the_rest() -> None:
    proven = new_event(StreamDelta(seq=1, delta={"content": "a"}), uuid7())
    floaty = new_event(StreamDelta(seq=2, delta={"p": 1.0}), uuid7())
    out = prepare("s", [proven, floaty], ANY)
    assert out[0] is proven
    assert out[1].data == b'{"delta":{"p":1},"seq":2}'


def test_uuid7_is_rfc_9562_v7_unique_and_increasing() -> None:
    ids = [uuid7() for _ in range(5000)]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    for text in (ids[0], ids[-1], new_request_id().removeprefix("chatcmpl-")):
        value = uuid.UUID(text)
        assert value.version == 7 and value.variant == uuid.RFC_4122
    assert str(uuid.UUID(ids[0])) == ids[0]  # canonical text: stored as a 16-byte blob
    assert event_ids.event_id_key(ids[0]) == uuid.UUID(ids[0]).bytes


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UUID_LIKE = "0189ab3c-d2e4-7f01-8a2b-3c4d5e6f7a8b"


def mutations(text: str) -> list[str]:
    """Near misses of a canonical UUID: each character replaced by ones ``fromhex`` treats
    specially (upper case, spaces, non-ASCII digits) or by a dash, and dashes moved."""
    out = [text.upper(), text.replace("-", ""), text + " ", " " + text[1:], text[:-1] + "\n"]
    for i in range(len(text)):
        for c in ("A", "F", "g", " ", "-", "\u0660", "\xe9", "0"):
            out.append(text[:i] + c + text[i + 1 :])
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from("0123456789abcdefABCDEF- \t\u0660"), min_size=30, max_size=38))
def test_event_id_key_is_bytes_exactly_for_canonical_uuids(chars: list[str]) -> None:
    for text in ["".join(chars), *mutations(UUID_LIKE)]:
        key = event_ids.event_id_key(text)
        if CANONICAL_UUID.fullmatch(text):
            assert key == uuid.UUID(text).bytes
        else:
            assert key == text


async def test_every_group_size_uses_one_of_ten_statement_shapes(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    store = await open_event_store(Settings(database_url=url))
    sizes = [1, 2, 3, 7, 100, 511, 512, 513, 1000, 1537]
    for n in sizes:
        events = [new_event(StreamDelta(seq=i, delta={"content": "x"}), uuid7()) for i in range(n)]
        positions = await store.append(f"request:{n}", events)
        assert positions == list(range(positions[0], positions[0] + n))
    verdict = await verify(store)
    await store.close()
    assert verdict.ok and verdict.count == sum(sizes), verdict
    assert sqlite_writer._insert_sql.cache_info().currsize <= 10  # 512, 256, …, 1 rows
    rows = sqlite3.connect(tmp_path / "log.db").execute("SELECT count(*) FROM events").fetchone()
    assert rows[0] == sum(sizes)


async def test_writer_caches_stay_bounded_and_a_forgotten_stream_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "CACHED_STREAMS", 4)
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    store = await open_event_store(Settings(database_url=url))
    received = StreamDelta(seq=0, delta={"content": "r"})
    await store.append("request:first", [new_event(received, uuid7())])
    for n in range(40):
        await store.append(f"request:{n}", [new_event(received, uuid7())])
    writer = store._w  # type: ignore[attr-defined]
    assert len(writer._streams) <= 8 and len(writer._versions) <= 8
    assert "request:first" not in writer._streams
    # Evicted from the caches: looked up again, versions continue, expected versions hold.
    await store.append("request:first", [new_event(received, uuid7())], expected_version=1)
    events = await store.read_stream("request:first")
    assert [e.version for e in events] == [1, 2]
    assert msgspec.json.decode(events[1].data)["delta"] == {"content": "r"}
    await store.close()
