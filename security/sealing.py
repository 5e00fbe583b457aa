"""SM4-GCM sealing of one stored field.

A sealed value is ``version ‖ alg ‖ key_id (4 bytes BE) ‖ nonce (12) ‖ ciphertext ‖ tag (16)``.
The associated data binds the header and where the value lives (tenant, table, column, row id),
so a ciphertext copied to another row, column, table or tenant does not open.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

try:
    # The contexts `Cipher.encryptor()` / `decryptor()` return, made without the wrapper's
    # per-call type checks (about half of a short value's sealing time). The algorithm and the
    # mode are built and checked here, so the checks hold; a release without these falls back.
    from cryptography.hazmat.bindings._rust import openssl as _rust_openssl

    _encryption_context = _rust_openssl.ciphers.create_encryption_ctx
    _decryption_context = _rust_openssl.ciphers.create_decryption_ctx
except (ImportError, AttributeError):  # pragma: no cover - depends on the installed release

    def _encryption_context(algorithm, mode):
        return Cipher(algorithm, mode).encryptor()

    def _decryption_context(algorithm, mode):
        return Cipher(algorithm, mode).decryptor()


VERSION = 1
ALG_SM4_GCM = 1
KEY_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
_PREFIX = struct.Struct(">BBI")
_LENGTH = struct.Struct(">I")
HEADER_SIZE = _PREFIX.size + NONCE_SIZE
OVERHEAD = HEADER_SIZE + TAG_SIZE
_MAX_KEY_ID = 0xFFFFFFFF
# Above this size, encrypting into one preallocated buffer beats building the result by
# concatenation (which copies the ciphertext twice).
_BULK_THRESHOLD = 4096
_AD_DOMAIN = b"hongyan/seal"


class SealError(Exception):
    """A sealed value could not be opened: tampered, wrong place, unknown or retired key."""


def seal(
    key: bytes,
    key_id: int,
    plaintext: bytes,
    *,
    tenant_id: str,
    table: str,
    column: str,
    row_id: str,
    nonce: bytes | None = None,
) -> bytes:
    """Seal ``plaintext`` with SM4-GCM under ``key``; the result is self-describing bytes."""
    return seal_with(
        sm4(key),
        key_id,
        plaintext,
        tenant_id=tenant_id,
        table=table,
        column=column,
        row_id=row_id,
        nonce=nonce,
    )


def open_sealed(
    key_for_id: Callable[[int], bytes],
    blob: bytes,
    *,
    tenant_id: str,
    table: str,
    column: str,
    row_id: str,
) -> bytes:
    """Open a value made by `seal`; ``key_for_id`` maps the stored key id to key bytes.

    Raises SealError for any failure, including a ``key_for_id`` that raises (unknown or
    retired key): callers cannot tell a tampered value from a missing key, on purpose.
    """

    def algorithm_for_id(key_id: int) -> algorithms.SM4:
        return sm4(key_for_id(key_id))

    return open_with(algorithm_for_id, blob, tenant_id=tenant_id, table=table, column=column, row_id=row_id)


def sealed_key_id(blob: bytes) -> int:
    """The key id a sealed value was made with (raises SealError if it is not one)."""
    return _parse_prefix(blob)


def sm4(key: bytes) -> algorithms.SM4:
    """An SM4 algorithm object for ``key`` (callers on hot paths cache it)."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"an SM4 key is {KEY_SIZE} bytes, not {len(key)}")
    return algorithms.SM4(bytes(key))


def associated_data(key_id: int, *, tenant_id: str, table: str, column: str, row_id: str) -> bytes:
    """The GCM associated data: domain, header prefix and the length-prefixed location."""
    raw = row_id.encode("utf-8")
    return _ad_prefix(key_id, tenant_id, table, column) + _LENGTH.pack(len(raw)) + raw


@functools.lru_cache(maxsize=4096)
def _ad_prefix(key_id: int, tenant_id: str, table: str, column: str) -> bytes:
    # Everything but the row id repeats across a batch; build it once.
    out = bytearray(_AD_DOMAIN)
    out += _PREFIX.pack(VERSION, ALG_SM4_GCM, key_id)
    for part in (tenant_id, table, column):
        raw = part.encode("utf-8")
        out += _LENGTH.pack(len(raw))
        out += raw
    return bytes(out)


def seal_with(
    algorithm: algorithms.SM4,
    key_id: int,
    plaintext: bytes,
    *,
    tenant_id: str,
    table: str,
    column: str,
    row_id: str,
    nonce: bytes | None = None,
) -> bytes:
    """`seal` with a prepared SM4 algorithm object (the keyring's cached fast path)."""
    if not 0 <= key_id <= _MAX_KEY_ID:
        raise ValueError(f"key_id must fit in 4 bytes, got {key_id}")
    if nonce is None:
        nonce = os.urandom(NONCE_SIZE)
    elif len(nonce) != NONCE_SIZE:
        raise ValueError(f"the nonce is {NONCE_SIZE} bytes, not {len(nonce)}")
    prefix = _PREFIX.pack(VERSION, ALG_SM4_GCM, key_id)
    encryptor = _encryption_context(algorithm, modes.GCM(nonce))
    encryptor.authenticate_additional_data(
        associated_data(key_id, tenant_id=tenant_id, table=table, column=column, row_id=row_id)
    )
    size = len(plaintext)
    if size < _BULK_THRESHOLD:
        body = encryptor.update(plaintext) + encryptor.finalize()
        return prefix + nonce + body + encryptor.tag
    # update_into wants room for one extra block minus a byte.
    out = bytearray(HEADER_SIZE + size + 15 + TAG_SIZE)
    out[: _PREFIX.size] = prefix
    out[_PREFIX.size : HEADER_SIZE] = nonce
    written = encryptor.update_into(plaintext, memoryview(out)[HEADER_SIZE:])
    encryptor.finalize()
    end = HEADER_SIZE + written
    out[end : end + TAG_SIZE] = encryptor.tag
    del out[end + TAG_SIZE :]
    return bytes(out)


def open_with(
    algorithm_for_id: Callable[[int], algorithms.SM4],
    blob: bytes,
    *,
    tenant_id: str,
    table: str,
    column: str,
    row_id: str,
) -> bytes:
    """`open_sealed` with a lookup that returns prepared SM4 algorithm objects."""
    key_id = _parse_prefix(blob)
    try:
        algorithm = algorithm_for_id(key_id)
    except SealError:
        raise
    except Exception as exc:  # any lookup failure is a closed door, not a crash
        raise SealError(f"key {key_id} is not available: {exc}") from None
    view = memoryview(blob)
    nonce = bytes(view[_PREFIX.size : HEADER_SIZE])
    tag = bytes(view[-TAG_SIZE:])
    body = view[HEADER_SIZE:-TAG_SIZE]
    decryptor = _decryption_context(algorithm, modes.GCM(nonce, tag))
    decryptor.authenticate_additional_data(
        associated_data(key_id, tenant_id=tenant_id, table=table, column=column, row_id=row_id)
    )
    try:
        if len(body) < _BULK_THRESHOLD:
            return decryptor.update(body) + decryptor.finalize()
        out = bytearray(len(body) + 15)
        written = decryptor.update_into(body, out)
        decryptor.finalize()
    except InvalidTag:
        raise SealError("sealed value failed authentication (tampered or moved)") from None
    del out[written:]
    return bytes(out)


def _parse_prefix(blob: bytes) -> int:
    if len(blob) < OVERHEAD:
        raise SealError(f"sealed value too short ({len(blob)} bytes)")
    version, alg, key_id = _PREFIX.unpack_from(blob)
    if version != VERSION:
        raise SealError(f"unknown sealed-value version {version}")
    if alg != ALG_SM4_GCM:
        raise SealError(f"unknown sealing algorithm {alg}")
    return key_id
