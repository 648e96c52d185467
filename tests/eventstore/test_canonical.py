"""Our fast RFC 8785 path is byte-identical to the ``rfc8785`` library, and never refuses JSON."""

from __future__ import annotations

import json
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from app.adapters.eventstore.canonical import canonical_object, canonical_string, format_recorded_at

SAFE = 2**53 - 1
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-SAFE, SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
objects = st.dictionaries(st.text(), json_values, max_size=6)


@settings(max_examples=400, deadline=None)
@given(objects)
def test_matches_rfc8785_on_arbitrary_json(obj: dict[str, Any]) -> None:
    expected = rfc8785.dumps(obj)
    assert canonical_object(json.dumps(obj).encode()) == expected
    assert canonical_object(json.dumps(obj, ensure_ascii=False).encode()) == expected
    assert canonical_object(expected) == expected


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_strings_match_rfc8785(text: str) -> None:
    assert canonical_string(text) == rfc8785.dumps(text)


def test_tricky_cases() -> None:
    cases = {
        b'{"a":1e-7}': b'{"a":1e-7}',
        b'{"a":1e21}': b'{"a":1e+21}',
        b'{"a":1E20}': b'{"a":100000000000000000000}',
        b'{"a":-0.0}': b'{"a":0}',
        b'{"a":-0}': b'{"a":0}',
        b'{"a":1.0,"b":0.1,"c":5e-324}': b'{"a":1,"b":0.1,"c":5e-324}',
        b'{"a":9007199254740991}': b'{"a":9007199254740991}',
        '{"é":"\\u00e9","z":"\U0001f600"}'.encode(): '{"z":"\U0001f600","é":"é"}'.encode(),
        # UTF-16 order: U+1F600 (D83D...) sorts before U+FB33, although it is the larger code point.
        '{"\ufb33":1,"\U0001f600":2}'.encode(): '{"\U0001f600":2,"\ufb33":1}'.encode(),
        b'{"\\ud83d\\ude00":"\\u0007\\u001f\\n"}': '{"\U0001f600":"\\u0007\\u001f\\n"}'.encode(),
        b'{"b":[3,{"d":1,"c":2}],"a":null}': b'{"a":null,"b":[3,{"c":2,"d":1}]}',
    }
    for raw, want in cases.items():
        assert canonical_object(raw) == want, raw
        assert rfc8785.dumps(json.loads(raw)) == want, raw


def test_json_that_jcs_cannot_represent_is_kept_not_refused() -> None:
    # Integers beyond 2**53 keep every digit, as a string; so do numbers beyond a double.
    assert canonical_object(b'{"seed":12345678901234567890}') == b'{"seed":"12345678901234567890"}'
    assert canonical_object(b'{"seed":-9007199254740993}') == b'{"seed":"-9007199254740993"}'
    assert canonical_object(b'{"x":1e400}') == b'{"x":"1e400"}'
    assert canonical_object(b'{"x":"\\ud800"}') == '{"x":"\ufffd"}'.encode()
    # 16 digits inside a string are not a number: unchanged.
    assert canonical_object(b'{"id":"1234567890123456789"}') == b'{"id":"1234567890123456789"}'


def test_recorded_at_format() -> None:
    assert format_recorded_at(1_764_000_000_123_456) == "2025-11-24T16:00:00.123456Z"
    assert format_recorded_at(0) == "1970-01-01T00:00:00.000000Z"
