"""An integrator's verifier of evidence proofs, written from docs/evidence.md and RFC 6962 alone.

It imports nothing of Hongyan: SM3 comes from gmssl (pure Python), canonical JSON from the
standard library, the signature check from `cryptography`'s Ed25519. The audit path is checked
by recursing over the tree the way RFC 6962 §2.1.1 defines the path (not the iterative
algorithm of RFC 9162 the product uses), so the two can only agree by both being right.
"""

from __future__ import annotations

import json
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from gmssl import sm3 as gmssl_sm3


def sm3(data: bytes) -> bytes:
    return bytes.fromhex(gmssl_sm3.sm3_hash(list(data)))


def leaf_input(facts: dict) -> bytes:
    """The canonical facts: compact JSON, keys sorted, UTF-8."""
    return json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def leaf_hash(facts: dict) -> bytes:
    return sm3(b"\x00" + leaf_input(facts))


def _node(left: bytes, right: bytes) -> bytes:
    return sm3(b"\x01" + left + right)


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """The root that PATH(index, D[size]) leads to; the path lists the deepest sibling first."""
    if not 0 <= index < size:
        raise ValueError("index outside the tree")
    if size == 1:
        if path:
            raise ValueError("path too long")
        return leaf
    if not path:
        raise ValueError("path too short")
    k, sibling, rest = _split(size), path[-1], path[:-1]
    if index < k:
        return _node(root_from_path(index, k, leaf, rest), sibling)
    return _node(sibling, root_from_path(index - k, size - k, leaf, rest))


def consistent(first: int, second: int, root1: bytes, root2: bytes, proof: list[bytes]) -> bool:
    """Whether PROOF(first, D[second]) (RFC 6962 §2.1.2) joins the two roots."""
    if first == second:
        return not proof and root1 == root2
    if not 0 < first < second:
        return False
    left = list(proof)

    def sub(m: int, n: int, complete: bool) -> tuple[bytes, bytes]:
        # (MTH of the first m leaves of this subtree, MTH of the whole subtree)
        if m == n:
            if complete:
                return root1, root1
            value = left.pop()
            return value, value
        k = _split(n)
        if m <= k:
            right = left.pop()
            old, new = sub(m, k, complete)
            return old, _node(new, right)
        sibling = left.pop()
        old, new = sub(m - k, n - k, False)
        return _node(sibling, old), _node(sibling, new)

    try:
        old, new = sub(first, second, True)
    except IndexError:
        return False
    return not left and old == root1 and new == root2


def tree_head_signed(head: dict, public_key_hex: str) -> bool:
    """Whether the tree head's signature verifies under the published key."""
    if sm3(bytes.fromhex(public_key_hex)).hex() != head["key_id"]:
        return False
    tenant = head["tenant_id"].encode("utf-8")
    message = (
        b"hongyan-evidence-tree-head-v1\x00"
        + struct.pack(">H", len(tenant))
        + tenant
        + struct.pack(">QQ", head["timestamp"], head["tree_size"])
        + bytes.fromhex(head["root_hash"])
    )
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(
            bytes.fromhex(head["signature"]), message
        )
    except InvalidSignature:
        return False
    return True


def record_proven(record: dict, head: dict, keys: dict[str, str]) -> bool:
    """Whether ``record`` (as GET /v1/evidence/{message_id} returns it) is in the tree whose
    head is ``head``, signed by one of ``keys`` (key_id -> public key hex)."""
    proof = record["proof"]
    if proof is None or proof["tree_size"] != head["tree_size"] or proof["leaf_index"] != record["seq"]:
        return False
    if head["key_id"] not in keys or not tree_head_signed(head, keys[head["key_id"]]):
        return False
    try:
        root = root_from_path(
            record["seq"],
            head["tree_size"],
            leaf_hash(record["facts"]),
            [bytes.fromhex(h) for h in proof["audit_path"]],
        )
    except ValueError:
        return False
    return root.hex() == head["root_hash"]
