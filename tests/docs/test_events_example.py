"""docs/events.md's worked example is true, and its stand-alone verifier catches tampering.

The example's export lines, canonical bytes and hashes are checked with the plain ``rfc8785``
library; the verifier snippet is run as a script on the example, on a tampered copy, on a copy
with an event missing, and on a real export of a fresh log written by the gateway's own store.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import rfc8785

from app.adapters.eventstore.export import export_line
from app.adapters.eventstore.sqlite import SqliteEventStore
from app.ids import uuid7
from app.services.event_pages import iter_events
from domain.events import ScanCompleted, ScanStarted
from domain.ports import NewEvent

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(lang: str) -> list[str]:
    text = DOC.read_text("utf-8")
    example = text[text.index("### Worked example") :]
    return [body for kind, body in BLOCK.findall(example) if kind == lang]


def _export() -> list[str]:
    (jsonl,) = _blocks("jsonl")
    return jsonl.splitlines()


def _verify(lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    verifier = next(b for b in _blocks("python") if "rfc8785" in b)
    return subprocess.run(
        [sys.executable, "-c", verifier, *args],
        input="".join(line + "\n" for line in lines),
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_worked_example_hashes_are_what_rfc8785_and_sha256_give() -> None:
    lines = _export()
    canonical_shown = [b.strip() for b in _blocks("text")]
    assert len(lines) == 2 and len(canonical_shown) == 2
    prev = "0" * 64
    for line, shown in zip(lines, canonical_shown, strict=True):
        event = json.loads(line)
        claimed = event.pop("hash")
        canonical = rfc8785.dumps(event)
        assert canonical.decode() == shown
        assert hashlib.sha256(canonical).hexdigest() == claimed
        assert DOC.read_text("utf-8").count(claimed) >= 2  # in the export, and named in prose
        assert event["prev_hash"] == prev
        prev = claimed


def test_the_verifier_accepts_the_example_and_rejects_tampering() -> None:
    lines = _export()
    ok = _verify(lines, "--whole")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: 2 events, last position 2")

    edited = [lines[0], lines[1].replace('"loaded":4', '"loaded":5')]
    assert "the hash does not match" in _verify(edited).stderr

    assert "missing or out of order" in _verify([lines[1]], "--whole").stderr
    assert _verify([lines[1]]).returncode == 0  # a partial export is checked event by event

    first = json.loads(lines[0])
    first["prev_hash"] = "1" * 64  # a forged link, with a hash recomputed to match it
    del first["hash"]
    first["hash"] = hashlib.sha256(rfc8785.dumps(first)).hexdigest()
    assert "prev_hash breaks the chain" in _verify([json.dumps(first), lines[1]]).stderr


async def test_the_verifier_accepts_a_real_export(tmp_path: Path) -> None:
    store = await SqliteEventStore.open(f"sqlite+aiosqlite:///{tmp_path}/log.db")
    try:
        scan_id = uuid7()
        started = ScanStarted(scan_id=scan_id, roots=["src/agents"], reason="cli")
        await store.append("discovery", [NewEvent.of(started, uuid7())])
        done = ScanCompleted(scan_id=scan_id, loaded=1, failed=0, duration_us=7)
        await store.append("discovery", [NewEvent.of(done, uuid7())])
        lines = [export_line(rec).decode() async for rec in iter_events(store)]
    finally:
        await store.close()
    result = _verify(lines, "--whole")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 2 events")
