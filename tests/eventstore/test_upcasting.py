"""Schema evolution: every shipped (type, schema_version) decodes to today's Structs; upcasters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest

from domain import upcasting
from domain.events import EVENT_TYPES, Event
from domain.upcasting import UnknownEventType, decode, encode, upcaster

GOLDEN = json.loads((Path(__file__).parent / "golden_events.json").read_text())


def test_every_shipped_type_and_version_has_a_golden_fixture() -> None:
    have = {(g["type"], g["schema_version"]) for g in GOLDEN}
    want = {(t, v) for t, cls in EVENT_TYPES.items() for v in range(1, cls.SCHEMA_VERSION + 1)}
    # A new type or version needs a fixture here; an old fixture is never removed.
    assert want <= have


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda g: f"{g['type']}.v{g['schema_version']}")
def test_golden_payloads_decode_to_todays_structs(golden: dict[str, Any]) -> None:
    data = json.dumps(golden["data"]).encode()
    event = decode(golden["type"], golden["schema_version"], data)
    cls = EVENT_TYPES[golden["type"]]
    assert type(event) is cls
    assert event == msgspec.convert(golden["today"], cls)
    assert json.loads(encode(event)) == golden["today"]


class Renamed(Event, frozen=True, kw_only=True, omit_defaults=True):
    """A synthetic type at v3: v1 had ``text``, v2 renamed it ``content``, v3 added ``lang``."""

    TYPE: ClassVar[str] = "test.renamed"
    SCHEMA_VERSION: ClassVar[int] = 3
    content: str
    lang: str


@pytest.fixture
def synthetic(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, int], upcasting.Upcaster]:
    monkeypatch.setitem(EVENT_TYPES, Renamed.TYPE, Renamed)
    monkeypatch.setattr(upcasting, "UPCASTERS", {})

    @upcaster(Renamed.TYPE, 1)
    def rename(obj: dict[str, Any]) -> dict[str, Any]:
        obj["content"] = obj.pop("text")
        return obj

    @upcaster(Renamed.TYPE, 2)
    def add_lang(obj: dict[str, Any]) -> dict[str, Any]:
        return {**obj, "lang": "en"}

    return upcasting.UPCASTERS


def test_upcaster_chain_runs_in_order(synthetic: dict[tuple[str, int], Any]) -> None:
    today = Renamed(content="hi", lang="en")
    assert decode(Renamed.TYPE, 1, b'{"text":"hi"}') == today
    assert decode(Renamed.TYPE, 2, b'{"content":"hi"}') == today
    assert decode(Renamed.TYPE, 3, b'{"content":"hi","lang":"en"}') == today


def test_upcaster_gaps_and_unknowns_are_errors(synthetic: dict[tuple[str, int], Any]) -> None:
    with pytest.raises(UnknownEventType):
        decode(Renamed.TYPE, 4, b'{"content":"hi","lang":"en"}')  # newer than this code
    with pytest.raises(UnknownEventType):
        decode(Renamed.TYPE, 1, b'{"text":"hi"}', upcasters={})  # no step from v1
    with pytest.raises(UnknownEventType):
        decode("no.such_type", 1, b"{}")
    with pytest.raises(ValueError):
        upcaster(Renamed.TYPE, 1)(lambda obj: obj)  # registered twice
