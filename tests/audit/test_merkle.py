"""domain.merkle against the independent RFC 9162 reference, at random sizes and positions."""

from __future__ import annotations

import hashlib
import random

import pytest

from domain import merkle
from tests.audit import rfc9162


class Leaves:
    """A ``Nodes`` source computed by brute force from a list of leaf hashes."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves

    def perfect(self, level: int, index: int) -> bytes:
        return rfc9162.mth(self.leaves[index << level : (index + 1) << level])


def leaves(n: int) -> list[bytes]:
    return [rfc9162.leaf(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100]
SIZES += random.Random(7).sample(range(2, 600), 12)


@pytest.mark.parametrize("size", SIZES)
def test_roots_paths_and_proofs_match_the_rfc(size: int) -> None:
    all_leaves = leaves(size)
    nodes = Leaves(all_leaves)
    root = rfc9162.mth(all_leaves)
    assert merkle.root_hash(nodes, size) == root
    rng = random.Random(size)
    for m in {0, size - 1, *rng.sample(range(size), min(size, 8))}:
        got = merkle.inclusion_proof(nodes, m, size)
        assert got == rfc9162.path(m, all_leaves)
        assert rfc9162.verify_inclusion(m, size, all_leaves[m], got, root)
        assert merkle.verify_inclusion(all_leaves[m], m, size, got, root)
    for first in {1, size, *rng.sample(range(1, size + 1), min(size, 8))}:
        got = merkle.consistency_proof(nodes, first, size)
        assert got == rfc9162.proof(first, all_leaves)
        first_root = rfc9162.mth(all_leaves[:first])
        assert rfc9162.verify_consistency(first, size, first_root, root, got)
        assert merkle.verify_consistency(first, size, first_root, root, got)


def test_frontier_grows_to_the_same_roots_and_completes_every_perfect_subtree() -> None:
    all_leaves = leaves(300)
    frontier = merkle.Frontier()
    made: dict[tuple[int, int], bytes] = {}
    for i, h in enumerate(all_leaves):
        for level, index, node in frontier.push(h):
            made[(level, index)] = node
        assert frontier.root() == rfc9162.mth(all_leaves[: i + 1])
    for (level, index), node in made.items():
        assert node == rfc9162.mth(all_leaves[index << level : (index + 1) << level])
    again = merkle.Frontier.of(Leaves(all_leaves), 300)
    assert again.edge == frontier.edge


def test_wrong_proofs_do_not_verify() -> None:
    all_leaves = leaves(37)
    nodes = Leaves(all_leaves)
    root = rfc9162.mth(all_leaves)
    path = merkle.inclusion_proof(nodes, 5, 37)
    assert not merkle.verify_inclusion(all_leaves[6], 5, 37, path, root)
    assert not merkle.verify_inclusion(all_leaves[5], 5, 70, path, root)
    assert not merkle.verify_inclusion(all_leaves[5], 5, 37, path[:-1], root)
    proof = merkle.consistency_proof(nodes, 11, 37)
    assert not merkle.verify_consistency(11, 37, rfc9162.mth(all_leaves[:12]), root, proof)
    assert not merkle.verify_consistency(11, 37, rfc9162.mth(all_leaves[:11]), root, proof[1:])
    with pytest.raises(ValueError):
        merkle.inclusion_proof(nodes, 37, 37)
    with pytest.raises(ValueError):
        merkle.consistency_proof(nodes, 0, 37)


def test_extend_completes_the_same_subtrees_as_push() -> None:
    all_leaves = leaves(333)
    one, many = merkle.Frontier(), merkle.Frontier()
    pushed = [m for h in all_leaves for m in one.push(h) if m[0] >= 4]
    kept = many.extend(all_leaves[:100], 4) + many.extend(all_leaves[100:], 4)
    assert kept == pushed and many.edge == one.edge and many.size == 333
