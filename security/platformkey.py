"""A platform-level key: blind indexes and sealed values that belong to no tenant (e.g. the
platform operator's list of ported numbers).

The root is 32 random bytes that the caller stores wrapped under the master key
(`Keyring.wrap_secret`, bound to the key's name); from it HKDF-SM3 derives one HMAC-SM3 key per
blind-index purpose and one SM4-GCM key for sealing, the same constructions as a tenant's index
and data keys in `security.keyring`, with the name in place of the tenant id.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from security.sealing import KEY_SIZE, open_with, seal_with, sm4

ROOT_SIZE = 32
_KEY_ID = 1  # one root per name; a new root means re-indexing, so there is no rotation here


def new_root() -> bytes:
    """Fresh root material for a platform key (wrap it before storing it)."""
    return os.urandom(ROOT_SIZE)


class PlatformKey:
    """Blind indexes and SM4-GCM sealing under one named platform key."""

    def __init__(self, name: str, root: bytes):
        if len(root) != ROOT_SIZE:
            raise ValueError(f"a platform key's root is {ROOT_SIZE} bytes")
        self.name = name
        self._root = root
        self._macs: dict[str, hmac.HMAC] = {}
        self._sm4 = sm4(self._derive("seal", KEY_SIZE))

    def _derive(self, info: str, length: int) -> bytes:
        salt = b"hongyan/platform-key\x00" + self.name.encode()
        return HKDF(algorithm=hashes.SM3(), length=length, salt=salt, info=info.encode()).derive(self._root)

    def blind_index(self, value: str, *, purpose: str) -> bytes:
        """HMAC-SM3 of `value` (normalise it first) under this key's `purpose` key: 32 bytes."""
        mac = self._macs.get(purpose)
        if mac is None:
            mac = self._macs[purpose] = hmac.HMAC(self._derive(f"index/{purpose}", 32), hashes.SM3())
        mac = mac.copy()
        mac.update(value.encode("utf-8"))
        return mac.finalize()

    def seal(self, table: str, column: str, row_id: str, plaintext: bytes) -> bytes:
        """SM4-GCM, bound to where the value lives (like a tenant's sealed fields)."""
        return seal_with(
            self._sm4, _KEY_ID, plaintext, tenant_id=self._tenant, table=table, column=column, row_id=row_id
        )

    def open(self, table: str, column: str, row_id: str, blob: bytes) -> bytes:
        """What `seal` made; `SealError` when it was moved or changed."""
        return open_with(
            lambda _key_id: self._sm4, blob, tenant_id=self._tenant, table=table, column=column, row_id=row_id
        )

    @property
    def _tenant(self) -> str:
        return f"platform/{self.name}"  # "/" cannot be in a tenant id: never a tenant's place
