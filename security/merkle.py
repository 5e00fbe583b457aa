"""RFC 6962 Merkle tree hashing (§2.1) with SM3: tree heads, audit paths, consistency proofs.

    leaf hash  = SM3(0x00 ‖ leaf input)
    node hash  = SM3(0x01 ‖ left ‖ right)
    MTH({})    = SM3()  (the empty string)
    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n]))  with k the largest power of two < n

Storage-agnostic: proofs are described as the ranges of leaves whose subtree hashes they list
(`inclusion_ranges`, `consistency_ranges`); whoever holds the tree resolves each range, e.g.
from stored perfect subtrees (`perfect_parts`). Verification follows RFC 9162 §2.1.3.2 and
§2.1.4.2, which check the same proofs. Every function takes the hash function, so tests can
run the published SHA-256 vectors through the very same code.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence

from cryptography.hazmat.primitives import hashes

HASH_SIZE = 32
Hash = Callable[[bytes], bytes]


def _sm3_cryptography(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


if "sm3" in hashlib.algorithms_available:
    # Copying a state is cheaper than looking the algorithm up again; the leaf and node states
    # have their prefix byte in already.
    _SM3 = hashlib.new("sm3")
    _LEAF = hashlib.new("sm3", b"\x00")
    _NODE = hashlib.new("sm3", b"\x01")

    def sm3(data: bytes) -> bytes:
        """SM3 digest (OpenSSL)."""
        h = _SM3.copy()
        h.update(data)
        return h.digest()

    def _sm3_leaf(data: bytes) -> bytes:
        h = _LEAF.copy()
        h.update(data)
        return h.digest()

    def _sm3_node(left: bytes, right: bytes) -> bytes:
        h = _NODE.copy()
        h.update(left)
        h.update(right)
        return h.digest()

else:  # some OpenSSL builds expose SM3 only through cryptography
    sm3 = _sm3_cryptography

    def _sm3_leaf(data: bytes) -> bytes:
        return sm3(b"\x00" + data)

    def _sm3_node(left: bytes, right: bytes) -> bytes:
        return sm3(b"\x01" + left + right)


def leaf_hash(data: bytes, h: Hash = sm3) -> bytes:
    """The hash of one leaf: H(0x00 ‖ data)."""
    return _sm3_leaf(data) if h is sm3 else h(b"\x00" + data)


def node_hash(left: bytes, right: bytes, h: Hash = sm3) -> bytes:
    """The hash of an inner node: H(0x01 ‖ left ‖ right)."""
    return _sm3_node(left, right) if h is sm3 else h(b"\x01" + left + right)


def empty_root(h: Hash = sm3) -> bytes:
    """MTH of the empty tree: the hash of the empty string."""
    return h(b"")


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where MTH(D[n]) splits."""
    return 1 << ((n - 1).bit_length() - 1)


def fold(parts: Sequence[bytes], h: Hash = sm3) -> bytes:
    """MTH of a range from the hashes of its perfect subtrees, largest (leftmost) first."""
    if not parts:
        return empty_root(h)
    acc = parts[-1]
    for part in reversed(parts[:-1]):
        acc = node_hash(part, acc, h)
    return acc


def perfect_parts(start: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees (first leaf, level) that make up an RFC 6962 subtree [start, end).

    A subtree of the tree starts at a multiple of a power of two at least its size, so taking
    the largest power of two that fits, left to right, gives aligned perfect subtrees; their
    hashes `fold` into MTH(D[start:end]).
    """
    parts = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start & ((1 << level) - 1):
            raise ValueError(f"[{start}, {end}) is not a subtree of an RFC 6962 tree")
        parts.append((start, level))
        start += 1 << level
    return parts


def root_of(leaves: Iterable[bytes], h: Hash = sm3) -> bytes:
    """MTH of a whole list of leaf hashes."""
    frontier = Frontier(h=h)
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


class Frontier:
    """The right edge of a tree being appended to: one perfect subtree per set bit of its size.

    Appending is amortised one node hash per leaf; every perfect subtree completed on the way
    is reported (level, index, hash), so a caller can store the ones proofs will need.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = (), *, h: Hash = sm3) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} frontier hashes, got {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)  # largest subtree first
        self._h = h

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns the perfect subtrees it completed: (level, index, hash)."""
        index = self.size
        self.size += 1
        if not index & 1:  # half the leaves complete nothing
            self.hashes.append(leaf)
            return []
        done = []
        acc, level, h, hashes = leaf, 0, self._h, self.hashes
        # Each trailing set bit of the old size is a subtree the new leaf completes a sibling for.
        while index & 1:
            acc = node_hash(hashes.pop(), acc, h)
            level += 1
            index >>= 1
            done.append((level, index, acc))
        hashes.append(acc)
        return done

    def root(self) -> bytes:
        """MTH of every leaf appended so far."""
        return fold(self.hashes, self._h)

    def to_bytes(self) -> bytes:
        """The frontier hashes concatenated (with `size`, all it takes to resume)."""
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, blob: bytes | None, *, h: Hash = sm3) -> Frontier:
        blob = blob or b""
        return cls(size, [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)], h=h)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(index, D[0:size]) of RFC 6962 §2.1.1 as leaf ranges, deepest sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    out = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index - lo < k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    return out[::-1]


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """PROOF(first, D[0:second]) of RFC 6962 §2.1.2 as leaf ranges, in proof order."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first in (0, second):
        return []
    out = []
    lo, hi, m, complete = 0, second, first, True
    while True:
        if m == hi - lo:
            if not complete:
                out.append((lo, hi))
            break
        k = split_point(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    return out[::-1]


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], h: Hash = sm3) -> bytes:
    """The root an audit path leads to (RFC 9162 §2.1.3.2); ValueError if it cannot fit."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0 or len(p) != len(leaf):
            raise ValueError("the audit path is too long or holds a hash of the wrong size")
        if fn & 1 or fn == sn:
            r = node_hash(p, r, h)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p, h)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the audit path is too short for this tree size")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes, h: Hash = sm3) -> bool:
    """Whether ``path`` proves ``leaf`` at ``index`` in the tree of ``size`` with ``root``."""
    try:
        return hmac.compare_digest(root_from_inclusion(index, size, leaf, path, h), root)
    except ValueError:
        return False


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes], h: Hash = sm3
) -> bool:
    """Whether ``proof`` shows the tree of ``first`` leaves is a prefix of the one of ``second``
    (RFC 9162 §2.1.4.2)."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and hmac.compare_digest(first_root, second_root)
    if first == 0:
        return not proof
    if not proof or any(len(c) != len(first_root) for c in proof):
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is the first node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr, h)
            sr = node_hash(c, sr, h)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c, h)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, first_root) and hmac.compare_digest(sr, second_root)


class MemoryTree:
    """A whole tree held in memory (tests, tools): any subtree hash and proof, from the leaves."""

    def __init__(self, leaves: Iterable[bytes] = (), h: Hash = sm3) -> None:
        self.leaves = list(leaves)
        self._h = h

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) of a subtree."""
        parts = []
        for first, level in perfect_parts(start, end):
            parts.append(root_of(self.leaves[first : first + (1 << level)], self._h))
        return fold(parts, self._h)

    def root(self, size: int | None = None) -> bytes:
        return root_of(self.leaves[: len(self.leaves) if size is None else size], self._h)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = len(self.leaves) if size is None else size
        return [self.range_hash(a, b) for a, b in inclusion_ranges(index, size)]

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        second = len(self.leaves) if second is None else second
        return [self.range_hash(a, b) for a, b in consistency_ranges(first, second)]
