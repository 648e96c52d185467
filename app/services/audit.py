"""Verifiable audit: signed checkpoints of the log's Merkle tree, proofs, and request bundles.

Signing happens on a timer (every ``LEDGERGATE_AUDIT_CHECKPOINT_S`` while the log grows), on
``ledgergate audit checkpoint``, and when a bundle needs a checkpoint that covers its request:
never on the chat path. Each checkpoint is appended to the ``audit`` stream as
``audit.checkpoint_signed``. Formats: docs/events.md, "Verifiable audit".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

import msgspec

from app.errors import BadRequest, GatewayError
from app.ids import uuid7
from app.services.replay import read_request
from domain.checkpoint import checkpoint_text
from domain.events import CheckpointSigned
from domain.merkle import NodePlan, Nodes, consistency_proof, inclusion_proof, root_hash
from domain.ports import EventStore, NewEvent, RecordedEvent
from projections.audit_tree import AuditTree, StoredCheckpoint, TreeError

log = logging.getLogger("ledgergate.audit")

AUDIT_STREAM = "audit"


class NoteSigner(Protocol):
    name: str

    @property
    def verifier_key(self) -> str: ...

    def sign(self, text: str) -> str: ...


class SignedTree(msgspec.Struct, frozen=True):
    tree_size: int
    root_hash: bytes
    note: str


class InclusionProof(msgspec.Struct, frozen=True):
    position: int
    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    hashes: list[str]


class ConsistencyProof(msgspec.Struct, frozen=True):
    first: int
    second: int
    first_root: str
    second_root: str
    hashes: list[str]


class Bundle(msgspec.Struct, frozen=True):
    checkpoint: str
    events: list[RecordedEvent]
    proofs: list[InclusionProof]


class AuditService:
    def __init__(
        self, store: EventStore, tree: AuditTree, signer: NoteSigner, interval_s: float = 60.0
    ) -> None:
        self.store = store
        self.tree = tree
        self.signer = signer
        self.interval_s = interval_s
        self._latest: SignedTree | None = None  # the last one this process signed
        self._sign_lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    @property
    def verifier_key(self) -> str:
        return self.signer.verifier_key

    # --- checkpoints --------------------------------------------------------------------------

    async def sign(self) -> SignedTree:
        """Catch the tree up with the log, sign its head, append the checkpoint event."""
        async with self._sign_lock:
            await self.tree.catch_up()
            frontier = self.tree.frontier  # replaced, never mutated, by the follower
            root = frontier.root()
            note = self.signer.sign(checkpoint_text(self.signer.name, frontier.size, root))
            event = CheckpointSigned(tree_size=frontier.size, root_hash=root.hex(), note=note)
            await self.store.append(AUDIT_STREAM, [NewEvent.of(event, uuid7())])
            self._latest = SignedTree(frontier.size, root, note)
            return self._latest

    async def latest(self, min_size: int = 0, stored: StoredCheckpoint | None = None) -> SignedTree:
        """The newest checkpoint covering ``min_size`` leaves; signed now if there is none.

        ``stored``: the latest stored checkpoint, when the caller read it already.
        """
        if stored is None:
            stored = await self.tree.latest_checkpoint()
        if stored is not None and stored.tree_size < min_size:
            stored = None
        best = self._latest if self._latest and self._latest.tree_size >= min_size else None
        if stored is not None and (best is None or stored.tree_size > best.tree_size):
            best = SignedTree(stored.tree_size, stored.root_hash, stored.note)
        return best if best is not None else await self.sign()

    async def log_grew(self) -> bool:
        """Whether the log has events past the latest checkpoint other than checkpoints."""
        stored = await self.tree.latest_checkpoint()
        covered = max(
            stored.tree_size if stored else 0, self._latest.tree_size if self._latest else 0
        )
        after = await self.store.read_all(covered, 64)
        return any(rec.type != CheckpointSigned.TYPE for rec in after)

    async def _sign_while_growing(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                if await self.log_grew():
                    await self.sign()
            except Exception:  # a failed signature is retried next tick; serving goes on
                log.exception("signing an audit checkpoint failed")

    # --- proofs -------------------------------------------------------------------------------

    async def _checked_size(self, tree_size: int, name: str) -> None:
        head = await self.store.head()
        if not 1 <= tree_size <= head:
            raise BadRequest(
                f"{name} must be between 1 and the log's size ({head}), not {tree_size}.",
                param=name,
            )

    async def inclusion(self, position: int, tree_size: int) -> InclusionProof:
        await self._checked_size(tree_size, "tree_size")
        if not 1 <= position <= tree_size:
            raise BadRequest(
                f"position must be between 1 and tree_size ({tree_size}), not {position}.",
                param="position",
            )
        (proof,) = await self._inclusions([position], tree_size)
        return proof

    async def _inclusions(
        self, positions: Sequence[int], tree_size: int, root: bytes | None = None
    ) -> list[InclusionProof]:
        plan = NodePlan()
        self._inclusion_hashes(plan, positions, tree_size)
        real_root, paths = self._inclusion_hashes(
            await self._nodes(plan, tree_size), positions, tree_size
        )
        if root is not None and real_root != root:
            raise TreeError(f"the stored tree's root at {tree_size} is not the checkpoint's")
        return [
            InclusionProof(
                position=position,
                leaf_index=position - 1,
                tree_size=tree_size,
                leaf_hash=leaf.hex(),
                root_hash=real_root.hex(),
                hashes=[h.hex() for h in hashes],
            )
            for position, (leaf, hashes) in zip(positions, paths, strict=True)
        ]

    @staticmethod
    def _inclusion_hashes(
        nodes: Nodes, positions: Sequence[int], tree_size: int
    ) -> tuple[bytes, list[tuple[bytes, list[bytes]]]]:
        paths = [
            (nodes.perfect(0, p - 1), inclusion_proof(nodes, p - 1, tree_size)) for p in positions
        ]
        return root_hash(nodes, tree_size), paths

    async def _nodes(self, plan: NodePlan, tree_size: int) -> Nodes:
        try:
            return await self.tree.nodes(plan, tree_size)
        except TreeError as exc:
            raise GatewayError(str(exc), code="audit_tree_unavailable", status=503) from exc

    async def consistency(self, first: int, second: int) -> ConsistencyProof:
        await self._checked_size(second, "second")
        if not 1 <= first <= second:
            raise BadRequest(
                f"first must be between 1 and second ({second}), not {first}.", param="first"
            )
        plan = NodePlan()
        self._consistency(plan, first, second)
        first_root, second_root, hashes = self._consistency(
            await self._nodes(plan, second), first, second
        )
        return ConsistencyProof(
            first=first,
            second=second,
            first_root=first_root.hex(),
            second_root=second_root.hex(),
            hashes=[h.hex() for h in hashes],
        )

    @staticmethod
    def _consistency(nodes: Nodes, first: int, second: int) -> tuple[bytes, bytes, list[bytes]]:
        proof = consistency_proof(nodes, first, second)
        return root_hash(nodes, first), root_hash(nodes, second), proof

    async def bundle(self, request_id: str) -> Bundle | None:
        """The request's events, a checkpoint covering them, and one inclusion proof each."""
        events, stored = await asyncio.gather(
            read_request(self.store, request_id), self.tree.latest_checkpoint()
        )
        if not events:
            return None
        signed = await self.latest(events[-1].position, stored)
        proofs = await self._inclusions(
            [e.position for e in events], signed.tree_size, signed.root_hash
        )
        return Bundle(signed.note, events, proofs)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, *, follow: bool = True) -> None:
        if follow:
            self.tree.start()
        if self.interval_s > 0:
            self._timer = asyncio.create_task(self._sign_while_growing(), name="audit-signer")

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.tree.stop()
