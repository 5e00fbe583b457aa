"""API keys: shown once, stored only as an SM3 hash, looked up by their public id part."""
from __future__ import annotations

import hmac
import re
import secrets

from cryptography.hazmat.primitives import hashes

_KEY = re.compile(r"^hy_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def new_api_key() -> tuple[str, str, bytes]:
    """(key as shown once, key id for look-up, hash to store); 256 bits of secret."""
    key_id = secrets.token_hex(8)
    key = f"hy_{key_id}_{secrets.token_urlsafe(32)}"
    return key, key_id, _sm3(key.encode())


def api_key_id(key: str) -> str | None:
    """The look-up id inside a well-formed key, None for anything else."""
    m = _KEY.match(key)
    return m.group(1) if m else None


def check_api_key(key: str, stored_hash: bytes) -> bool:
    """Constant-time comparison of a presented key with the stored hash."""
    return hmac.compare_digest(_sm3(key.encode()), stored_hash)
