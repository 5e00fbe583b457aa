"""Signed tree heads of the evidence log: Ed25519 (RFC 8032) over a fixed binary layout.

The platform holds one signing key at a time (several over its life: every key ever used stays
published, so old heads keep verifying). What is signed::

    "hongyan-evidence-tree-head-v1" 0x00
    uint16 length of tenant_id ‖ tenant_id (UTF-8)
    uint64 timestamp (Unix milliseconds)
    uint64 tree_size
    root hash (32 bytes)

all integers big-endian (network order, as in RFC 6962's TreeHeadSignature). A key is named by
the lowercase hex SM3 of its 32 raw public-key bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from security.merkle import HASH_SIZE, sm3

ALGORITHM = "ed25519"
_LABEL = b"hongyan-evidence-tree-head-v1\x00"
_MAX = 2**64


def tree_head_message(tenant_id: str, tree_size: int, timestamp_ms: int, root: bytes) -> bytes:
    """The exact bytes a tree head signature covers."""
    tenant = tenant_id.encode("utf-8")
    if len(tenant) >= 2**16 or not (0 <= tree_size < _MAX and 0 <= timestamp_ms < _MAX) or len(root) != HASH_SIZE:
        raise ValueError("a tree head has a tenant id under 64 KiB, 64-bit size and time, and a 32-byte root")
    return _LABEL + struct.pack(">H", len(tenant)) + tenant + struct.pack(">QQ", timestamp_ms, tree_size) + root


def key_id_of(public_key: bytes) -> str:
    """The name of a signing key: hex SM3 of its raw public key."""
    return sm3(public_key).hex()


def public_key_pem(public_key: bytes) -> str:
    """A raw Ed25519 public key as PEM (SubjectPublicKeyInfo), for tools that want that."""
    key = Ed25519PublicKey.from_public_bytes(public_key)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass(frozen=True)
class TreeHead:
    """A tenant's evidence tree at one size, signed by the platform key ``key_id``."""

    tenant_id: str
    tree_size: int
    timestamp_ms: int
    root: bytes
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return tree_head_message(self.tenant_id, self.tree_size, self.timestamp_ms, self.root)

    def verify(self, public_key: bytes) -> bool:
        """Whether the signature is this head's under ``public_key`` (raw, 32 bytes)."""
        if key_id_of(public_key) != self.key_id:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(self.signature, self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_json(self) -> dict:
        return {
            "tenant_id": self.tenant_id,
            "tree_size": self.tree_size,
            "timestamp": self.timestamp_ms,
            "root_hash": self.root.hex(),
            "algorithm": ALGORITHM,
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> TreeHead:
        return cls(
            tenant_id=data["tenant_id"],
            tree_size=int(data["tree_size"]),
            timestamp_ms=int(data["timestamp"]),
            root=bytes.fromhex(data["root_hash"]),
            key_id=data["key_id"],
            signature=bytes.fromhex(data["signature"]),
        )


class TreeHeadSigner:
    """Signs tree heads with one Ed25519 private key."""

    def __init__(self, private_key: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(private_key)
        self.public_key = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id_of(self.public_key)

    @staticmethod
    def new_private_key() -> bytes:
        """32 random bytes of a fresh Ed25519 private key (from the OS's CSPRNG)."""
        return Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def sign(self, tenant_id: str, tree_size: int, timestamp_ms: int, root: bytes) -> TreeHead:
        message = tree_head_message(tenant_id, tree_size, timestamp_ms, root)
        return TreeHead(tenant_id, tree_size, timestamp_ms, root, self.key_id, self._key.sign(message))
