"""RFC 6962 Merkle trees: the published SHA-256 vectors, an SM3 reference written from the RFC's
definitions (gmssl's SM3), proofs of every shape, and the mutations a verifier must refuse."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from security import merkle
from security.merkle import (
    Frontier,
    MemoryTree,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    perfect_parts,
    verify_consistency,
    verify_inclusion,
)
from security.reference import sm3 as gmssl_sm3

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962_merkle.json").read_text())


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hx(values) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


@pytest.fixture(scope="module")
def ct_tree() -> MemoryTree:
    return MemoryTree([leaf_hash(d, sha256) for d in _hx(VECTORS["leaves"])], sha256)


def test_published_roots(ct_tree):
    assert merkle.empty_root(sha256).hex() == VECTORS["roots"][0]
    for size, root in enumerate(VECTORS["roots"]):
        assert ct_tree.root(size).hex() == root, size


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"{v['index']}-of-{v['size']}")
def test_published_inclusion_proofs(ct_tree, vector):
    index, size, path = vector["index"], vector["size"], _hx(vector["path"])
    assert ct_tree.inclusion_proof(index, size) == path
    root, leaf = ct_tree.root(size), ct_tree.leaves[index]
    assert verify_inclusion(index, size, leaf, path, root, sha256)
    for probe in _inclusion_mutations(index, size, leaf, path, root):
        assert not verify_inclusion(*probe, sha256), probe


@pytest.mark.parametrize("vector", VECTORS["consistency"], ids=lambda v: f"{v['first']}-to-{v['second']}")
def test_published_consistency_proofs(ct_tree, vector):
    first, second, path = vector["first"], vector["second"], _hx(vector["path"])
    assert ct_tree.consistency_proof(first, second) == path
    root1, root2 = ct_tree.root(first), ct_tree.root(second)
    assert verify_consistency(first, second, root1, root2, path, sha256)
    if path:
        for probe in _consistency_mutations(first, second, root1, root2, path):
            assert not verify_consistency(*probe, sha256), probe


def _inclusion_mutations(index, size, leaf, path, root):
    """The probes of the Certificate Transparency verifier tests: wrong index, size, leaf, root,
    extra or missing or altered path elements."""
    probes = [
        (index - 1, size, leaf, path, root),
        (index + 1, size, leaf, path, root),
        (index ^ 2, size, leaf, path, root),
        (index, size * 2, leaf, path, root),
        (index, size // 2, leaf, path, root),
        (index, size, b"WrongLeaf", path, root),
        (index, size, leaf, path, sha256(b"")),
        (index, size, leaf, path + [b""], root),
        (index, size, leaf, path + [root], root),
        (index, size, leaf, [b""] + path, root),
        (index, size, leaf, [root] + path, root),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, leaf, flipped, root))
    if path:
        probes.append((index, size, leaf, path[:-1], root))
    if len(path) > 1:
        probes.append((index, size, leaf, [path[0], sha256(b"x")] + path[1:], root))
    return probes


def _consistency_mutations(first, second, root1, root2, path):
    probes = [
        (first - 1, second, root1, root2, path),
        (first + 1, second, root1, root2, path),
        (first ^ 2, second, root1, root2, path),
        (first, second * 2, root1, root2, path),
        (first, second // 2, root1, root2, path),
        (first, second, b"WrongRoot", root2, path),
        (first, second, root1, b"WrongRoot", path),
        (first, second, root2, root1, path),
        (first, second, root1, root2, []),
        (first, second, root1, root2, path + [b""]),
        (first, second, root1, root2, path + [root1]),
        (first, second, root1, root2, path + [root2]),
        (first, second, root1, root2, [b""] + path),
        (first, second, root1, root2, [root1] + path),
        (first, second, root1, root2, [root2] + path),
        (first, second, root1, root2, [path[0]] + path),
        (first, second, root1, root2, path[:-1]),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((first, second, root1, root2, flipped))
    return probes


# -- SM3: a reference written straight from RFC 6962 §2.1, on gmssl's SM3 --------------------


def _mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return gmssl_sm3(b"")
    if n == 1:
        return gmssl_sm3(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return gmssl_sm3(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return _path(m, leaves[:k]) + [_mth(leaves[k:])]
    return _path(m - k, leaves[k:]) + [_mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [_mth(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [_mth(leaves[:k])]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 31, 33, 64, 65, 100])
def test_sm3_tree_matches_the_rfc_definitions(size):
    data = [f"leaf {i}".encode() for i in range(size)]
    tree = MemoryTree([leaf_hash(d) for d in data])
    assert tree.root() == _mth(data)
    frontier = Frontier()
    for leaf in tree.leaves:
        frontier.append(leaf)
    assert frontier.root() == _mth(data)
    for index in {0, size // 2, size - 1}:
        assert tree.inclusion_proof(index) == _path(index, data)
    for first in {1, size // 3 or 1, size - 1 or 1, size}:
        assert tree.consistency_proof(first) == (_subproof(first, data, True) if first < size else [])


def test_sm3_is_the_standard_one(crypto_vectors):
    for vector in crypto_vectors["sm3"]:
        assert merkle.sm3(bytes.fromhex(vector["message"])).hex() == vector["digest"], vector["name"]


def test_every_proof_of_small_trees_verifies():
    for size in range(1, 70):
        tree = MemoryTree([leaf_hash(bytes([i, i * 7 % 256])) for i in range(size)])
        root = tree.root()
        for index in range(size):
            path = tree.inclusion_proof(index)
            assert len(path) <= (size - 1).bit_length()  # at most ⌈log2 n⌉ hashes
            if size & (size - 1) == 0:
                assert len(path) == size.bit_length() - 1  # exactly log2 n in a full tree
            assert verify_inclusion(index, size, tree.leaves[index], path, root)
            assert not verify_inclusion(index, size, leaf_hash(b"other"), path, root)
        for first in range(0, size + 1):
            proof = tree.consistency_proof(first)
            assert verify_consistency(first, size, tree.root(first), root, proof)
            if 0 < first < size:
                assert not verify_consistency(first, size, tree.root(first - 1), root, proof)


def test_frontier_reports_perfect_subtrees_and_resumes():
    rng = random.Random(7)
    leaves = [leaf_hash(rng.randbytes(8)) for _ in range(300)]
    tree = MemoryTree(leaves)
    frontier = Frontier()
    done = []
    for i, leaf in enumerate(leaves):
        done += frontier.append(leaf)
        if i == 150:  # as the appender does between passes: save and resume
            frontier = Frontier.from_bytes(frontier.size, frontier.to_bytes())
    for level, index, value in done:
        assert value == tree.range_hash(index << level, (index + 1) << level)
    assert len(done) == sum(300 >> level for level in range(1, 9))
    assert frontier.root() == tree.root()
    with pytest.raises(ValueError):
        Frontier(3, [bytes(32)])


@pytest.mark.parametrize(
    ("start", "end", "parts"), [(0, 7, [(0, 2), (4, 1), (6, 0)]), (8, 12, [(8, 2)]), (4, 5, [(4, 0)])]
)
def test_perfect_parts(start, end, parts):
    assert perfect_parts(start, end) == parts


def test_ranges_refuse_what_is_not_in_the_tree():
    with pytest.raises(ValueError):
        perfect_parts(3, 7)
    with pytest.raises(ValueError):
        inclusion_ranges(5, 5)
    with pytest.raises(ValueError):
        consistency_ranges(6, 5)
    assert not verify_inclusion(0, 0, bytes(32), [], bytes(32))
    assert not verify_consistency(2, 1, bytes(32), bytes(32), [])
    assert verify_consistency(0, 5, b"", b"any", [])
