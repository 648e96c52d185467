"""RFC 9162 (section 2.1) Merkle tree hashing, proofs and their verification. Pure functions.

Leaf ``i`` of the log's tree is the event at position ``i + 1``; its leaf hash is
``SHA-256(0x00 || event hash)``. A proof is built from *perfect* subtrees (``2**level`` leaves
starting at ``index * 2**level``), asked of a ``Nodes`` source: the control flow never depends
on hash values, so a caller can first run a function with a recording source to learn which
nodes it needs, fetch them all at once, then run it again for real (see ``NodePlan``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(event_hash: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + event_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


class Nodes(Protocol):
    def perfect(self, level: int, index: int) -> bytes:
        """The hash of leaves ``[index * 2**level, (index + 1) * 2**level)``."""
        ...


class NodePlan:
    """A ``Nodes`` that records what is asked and answers with zeros."""

    def __init__(self) -> None:
        self.wanted: set[tuple[int, int]] = set()

    def perfect(self, level: int, index: int) -> bytes:
        self.wanted.add((level, index))
        return bytes(32)


def subtree_hash(nodes: Nodes, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range RFC 9162's recursion produces (``start`` aligned)."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return nodes.perfect(level, start >> level)
    k = split(n)
    return node_hash(subtree_hash(nodes, start, start + k), subtree_hash(nodes, start + k, end))


def root_hash(nodes: Nodes, size: int) -> bytes:
    return subtree_hash(nodes, 0, size)


def inclusion_proof(nodes: Nodes, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 2.1.3.1), the leaf's sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(nodes, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(nodes: Nodes, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]) (RFC 9162 2.1.4.1); empty when ``first == second``."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    path: list[bytes] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = split(end - start)
        if m <= k:
            path.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(nodes, start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        path.append(subtree_hash(nodes, start, end))
    path.reverse()
    return path


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2."""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


class Frontier:
    """The right edge of a growing tree: the perfect subtrees that make up ``size`` leaves.

    ``push`` adds a leaf and returns the perfect subtrees it completed, as (level, index, hash).
    """

    def __init__(self, size: int = 0, edge: Sequence[bytes] = ()) -> None:
        if len(edge) != size.bit_count():
            raise ValueError("a frontier holds one subtree per one bit of its size")
        self.size = size
        self.edge = list(edge)  # largest subtree first

    @classmethod
    def of(cls, nodes: Nodes, size: int) -> Frontier:
        edge, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                edge.append(nodes.perfect(level, start >> level))
                start += 1 << level
        return cls(size, edge)

    def push(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        made: list[tuple[int, int, bytes]] = [(0, self.size, leaf)]
        h, level, index = leaf, 0, self.size
        while index & 1:  # the new subtree has a left sibling of its height: merge
            h = node_hash(self.edge.pop(), h)
            level, index = level + 1, index >> 1
            made.append((level, index, h))
        self.edge.append(h)
        self.size += 1
        return made

    def extend(self, leaves: Iterable[bytes], keep_level: int) -> list[tuple[int, int, bytes]]:
        """``push`` for many leaves; returns only the completed subtrees of ``keep_level``
        (``>= 1``) and up. The follower's hot loop: one event costs about two SHA-256 calls."""
        edge, size, kept = self.edge, self.size, []
        sha256 = hashlib.sha256
        for leaf in leaves:
            h, level, index = leaf, 0, size
            while index & 1:
                h = sha256(NODE_PREFIX + edge.pop() + h).digest()
                level, index = level + 1, index >> 1
                if level >= keep_level:
                    kept.append((level, index, h))
            edge.append(h)
            size += 1
        self.size = size
        return kept

    def root(self) -> bytes:
        if not self.edge:
            return EMPTY_ROOT
        h = self.edge[-1]
        for left in reversed(self.edge[:-1]):
            h = node_hash(left, h)
        return h
