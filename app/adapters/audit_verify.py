"""Offline checks an auditor runs: a request's bundle, and the checkpoints inside a whole log.

Both use only the verifier key, RFC 8785 (the ``rfc8785`` package), SHA-256, Ed25519 and the
RFC 9162 verification algorithms: never the gateway's stored tree or its writer's code.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import rfc8785

from app.adapters.audit_key import verify_note
from domain.checkpoint import Checkpoint, NoteError
from domain.events import TERMINAL_REQUEST_TYPES, CheckpointSigned
from domain.merkle import Frontier, leaf_hash, verify_inclusion
from domain.ports import EventStore, RecordedEvent
from domain.upcasting import decode


@dataclass(slots=True)
class BundleVerdict:
    problems: list[str] = field(default_factory=list)
    origin: str = ""
    tree_size: int = 0
    stream: str = ""
    count: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def event_hash(event: dict[str, Any]) -> str:
    """SHA-256 hex of the RFC 8785 form of an exported event without its ``hash``."""
    body = {k: v for k, v in event.items() if k != "hash"}
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def verify_bundle(raw: bytes, vkey: str) -> BundleVerdict:
    """Every check of a bundle; the verdict lists each problem found (none: it verifies)."""
    verdict = BundleVerdict()
    try:
        bundle = msgspec.json.decode(raw)
        note, events, proofs = bundle["checkpoint"], bundle["events"], bundle["proofs"]
        checkpoint = verify_note(note, vkey)
    except (msgspec.DecodeError, KeyError, TypeError) as exc:
        verdict.problems.append(f"not an audit bundle: {exc!r}")
        return verdict
    except NoteError as exc:
        verdict.problems.append(f"checkpoint: {exc}")
        return verdict
    verdict.origin, verdict.tree_size = checkpoint.origin, checkpoint.tree_size
    if not isinstance(events, list) or not isinstance(proofs, list) or not events:
        verdict.problems.append("a bundle holds a non-empty list of events and of proofs")
        return verdict
    if len(events) != len(proofs):
        verdict.problems.append(f"{len(events)} events but {len(proofs)} proofs")
    verdict.stream, verdict.count = str(events[0].get("stream", "")), len(events)
    last_position = 0
    for i, (event, proof) in enumerate(zip(events, proofs, strict=False)):
        where = f"event {i + 1} (position {event.get('position')})"
        try:
            problem = _check_event(event, proof, checkpoint.tree_size, checkpoint.root_hash)
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"malformed: {exc!r}"
        if problem:
            verdict.problems.append(f"{where}: {problem}")
        if event.get("stream") != verdict.stream:
            verdict.problems.append(f"{where}: another stream than {verdict.stream}")
        if event.get("version") != i + 1:
            verdict.problems.append(f"{where}: version {event.get('version')}, not {i + 1}")
        position = event.get("position")
        if not isinstance(position, int) or position <= last_position:
            verdict.problems.append(f"{where}: positions must increase")
        else:
            last_position = position
    if verdict.stream.startswith("request:") and events[-1].get("type") not in (
        TERMINAL_REQUEST_TYPES
    ):
        verdict.problems.append(
            "the request's terminal event is not in the bundle (truncated, or still running)"
        )
    return verdict


def _check_event(event: dict[str, Any], proof: dict[str, Any], size: int, root: bytes) -> str:
    if event_hash(event) != event["hash"]:
        return "its hash does not match its content"
    position = event["position"]
    leaf = leaf_hash(bytes.fromhex(event["hash"]))
    if proof["position"] != position or proof["leaf_index"] != position - 1:
        return "its proof is for another position"
    if proof["tree_size"] != size or proof["root_hash"] != root.hex():
        return "its proof is not against the checkpoint's tree"
    if proof["leaf_hash"] != leaf.hex():
        return "its proof's leaf hash is not the event's"
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    if not verify_inclusion(leaf, position - 1, size, hashes, root):
        return "its inclusion proof does not verify"
    return ""


@dataclass(slots=True)
class CheckpointVerdict:
    checked: int = 0
    bad_position: int | None = None
    reason: str = ""


async def _events(
    store: EventStore, types: list[str] | None = None, page: int = 5000
) -> AsyncIterator[RecordedEvent]:
    after = 0
    while batch := await store.read_all(after, page, types):
        after = batch[-1].position
        for rec in batch:
            yield rec


async def verify_checkpoints(
    store: EventStore, vkey: str, held: Sequence[str] = ()
) -> CheckpointVerdict:
    """Recompute the tree from the log and check every ``audit.checkpoint_signed`` in it.

    Each must be signed by ``vkey`` and name the root the log's events have at its size; so a
    log rewritten below a checkpoint, reordered or re-signed with another key does not pass,
    even with a recomputed hash chain. ``held`` are checkpoint notes kept outside the log (by an
    auditor): the log must still hold their trees, which is how a cut-off tail shows even when
    its checkpoints went with it. Two reads: the checkpoints, then every event's hash.
    """
    verdict = CheckpointVerdict()
    kept: list[Checkpoint] = []
    for note in held:
        try:
            kept.append(verify_note(note, vkey))
        except NoteError as exc:
            verdict.reason = f"a checkpoint you hold: {exc}"
            verdict.bad_position = 0
            return verdict
    signed: list[tuple[int, CheckpointSigned, Checkpoint]] = []
    async for rec in _events(store, [CheckpointSigned.TYPE]):
        event = decode(rec.type, rec.schema_version, rec.data)
        assert isinstance(event, CheckpointSigned)
        try:
            checkpoint = verify_note(event.note, vkey)
        except NoteError as exc:
            verdict.bad_position, verdict.reason = rec.position, f"checkpoint: {exc}"
            return verdict
        signed.append((rec.position, event, checkpoint))
    sizes = {checkpoint.tree_size for _, _, checkpoint in signed} | {c.tree_size for c in kept}
    roots: dict[int, bytes] = {0: Frontier().root()} if 0 in sizes else {}
    frontier = Frontier()
    async for rec in _events(store):
        frontier.push(leaf_hash(bytes.fromhex(rec.hash)))
        if frontier.size in sizes:
            roots[frontier.size] = frontier.root()
    for checkpoint in kept:
        if checkpoint.tree_size > frontier.size:
            verdict.bad_position = frontier.size + 1
            verdict.reason = (
                f"the log has {frontier.size} events, fewer than the {checkpoint.tree_size} "
                "of a checkpoint you hold (truncated)"
            )
            return verdict
        if roots.get(checkpoint.tree_size) != checkpoint.root_hash:
            verdict.bad_position = checkpoint.tree_size
            verdict.reason = (
                f"the log's tree at size {checkpoint.tree_size} is not the one of a checkpoint "
                "you hold"
            )
            return verdict
        verdict.checked += 1
    for position, event, checkpoint in signed:
        root = roots.get(checkpoint.tree_size)
        if root != checkpoint.root_hash or event.root_hash != checkpoint.root_hash.hex():
            verdict.bad_position = position
            verdict.reason = f"the log's tree at size {checkpoint.tree_size} is not the signed one"
            return verdict
        if checkpoint.tree_size >= position:
            verdict.bad_position, verdict.reason = position, "a checkpoint signs its own future"
            return verdict
        verdict.checked += 1
    return verdict
