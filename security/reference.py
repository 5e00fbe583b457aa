"""Independent, slow reference implementations on top of gmssl (pure Python).

Used only to cross-check the OpenSSL path (tests) and to measure the gap (bench): gmssl has
the SM4 block function and SM3 but no GCM, HMAC or HKDF, so those are composed here from
their specifications (NIST SP 800-38D, RFC 2104, RFC 5869). Never use these in production.
"""

from __future__ import annotations

import hmac as _hmac
from collections.abc import Callable

from gmssl import sm3 as _gmssl_sm3
from gmssl import sm4 as _gmssl_sm4

BLOCK = 16
_R = 0xE1 << 120  # GHASH reduction constant (bit-reflected x^128 + x^7 + x^2 + x + 1)


class ReferenceSM4:
    """SM4 block encryption with gmssl's round function."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("an SM4 key is 16 bytes")
        self._engine = _gmssl_sm4.CryptSM4()
        self._engine.set_key(bytes(key), _gmssl_sm4.SM4_ENCRYPT)

    def encrypt_block(self, block: bytes) -> bytes:
        """Encrypt exactly one 16-byte block."""
        if len(block) != BLOCK:
            raise ValueError("a block is 16 bytes")
        return bytes(self._engine.one_round(self._engine.sk, list(block)))


def _gf_mult(x: int, y: int) -> int:
    # SP 800-38D Algorithm 1, on integers whose most significant bit is the first bit.
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _ghash(h: int, aad: bytes, ciphertext: bytes) -> bytes:
    y = 0
    for data in (aad, ciphertext):
        padded = data + bytes(-len(data) % BLOCK)
        for i in range(0, len(padded), BLOCK):
            y = _gf_mult(y ^ int.from_bytes(padded[i : i + BLOCK], "big"), h)
    lengths = (len(aad) * 8).to_bytes(8, "big") + (len(ciphertext) * 8).to_bytes(8, "big")
    y = _gf_mult(y ^ int.from_bytes(lengths, "big"), h)
    return y.to_bytes(BLOCK, "big")


def _gctr(cipher: ReferenceSM4, counter: bytes, data: bytes) -> bytes:
    out = bytearray()
    prefix, count = counter[:12], int.from_bytes(counter[12:], "big")
    for i in range(0, len(data), BLOCK):
        stream = cipher.encrypt_block(prefix + count.to_bytes(4, "big"))
        out += bytes(a ^ b for a, b in zip(data[i : i + BLOCK], stream))
        count = (count + 1) & 0xFFFFFFFF  # inc32
    return bytes(out)


def _gcm_parts(cipher: ReferenceSM4, nonce: bytes) -> tuple[int, bytes]:
    if len(nonce) != 12:
        raise ValueError("this reference handles 96-bit nonces only")
    h = int.from_bytes(cipher.encrypt_block(bytes(BLOCK)), "big")
    return h, nonce + b"\x00\x00\x00\x01"


def sm4_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> tuple[bytes, bytes]:
    """SM4-GCM encryption: (ciphertext, 16-byte tag)."""
    cipher = ReferenceSM4(key)
    h, j0 = _gcm_parts(cipher, nonce)
    ciphertext = _gctr(cipher, _inc32(j0), plaintext)
    tag = _gctr(cipher, j0, _ghash(h, aad, ciphertext))
    return ciphertext, tag


def sm4_gcm_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, tag: bytes, aad: bytes = b"") -> bytes:
    """SM4-GCM decryption; raises ValueError when the tag does not match."""
    cipher = ReferenceSM4(key)
    h, j0 = _gcm_parts(cipher, nonce)
    expected = _gctr(cipher, j0, _ghash(h, aad, ciphertext))
    if not _hmac.compare_digest(expected, tag):
        raise ValueError("SM4-GCM tag mismatch")
    return _gctr(cipher, _inc32(j0), ciphertext)


def ccm_encrypt(
    encrypt_block: Callable[[bytes], bytes], nonce: bytes, plaintext: bytes, aad: bytes = b"", tag_size: int = 16
) -> tuple[bytes, bytes]:
    """CCM (NIST SP 800-38C) over any 128-bit block function: (ciphertext, tag).

    cryptography has no SM4-CCM; this lets the RFC 8998 CCM vector check both the OpenSSL and
    the gmssl block functions.
    """
    q = 15 - len(nonce)
    if not 2 <= q <= 8 or tag_size not in (4, 6, 8, 10, 12, 14, 16):
        raise ValueError("unsupported CCM nonce or tag size")
    flags = (0x40 if aad else 0) | ((tag_size - 2) // 2) << 3 | (q - 1)
    blocks = bytes([flags]) + nonce + len(plaintext).to_bytes(q, "big")
    if aad:
        if len(aad) < 0xFF00:
            header = len(aad).to_bytes(2, "big")
        elif len(aad) < 1 << 32:
            header = b"\xff\xfe" + len(aad).to_bytes(4, "big")
        else:
            header = b"\xff\xff" + len(aad).to_bytes(8, "big")
        encoded = header + aad
        blocks += encoded + bytes(-len(encoded) % BLOCK)
    blocks += plaintext + bytes(-len(plaintext) % BLOCK)
    mac = bytes(BLOCK)
    for i in range(0, len(blocks), BLOCK):
        mac = encrypt_block(bytes(a ^ b for a, b in zip(mac, blocks[i : i + BLOCK])))

    def counter(i: int) -> bytes:
        return bytes([q - 1]) + nonce + i.to_bytes(q, "big")

    stream = b"".join(encrypt_block(counter(i)) for i in range(1, len(plaintext) // BLOCK + 2))
    ciphertext = bytes(a ^ b for a, b in zip(plaintext, stream))
    tag = bytes(a ^ b for a, b in zip(mac[:tag_size], encrypt_block(counter(0))))
    return ciphertext, tag


def _inc32(counter: bytes) -> bytes:
    return counter[:12] + ((int.from_bytes(counter[12:], "big") + 1) & 0xFFFFFFFF).to_bytes(4, "big")


def sm3(data: bytes) -> bytes:
    """SM3 digest with gmssl."""
    return bytes.fromhex(_gmssl_sm3.sm3_hash(list(data)))


def hmac_sm3(key: bytes, message: bytes) -> bytes:
    """HMAC (RFC 2104) with gmssl's SM3 (64-byte block)."""
    if len(key) > 64:
        key = sm3(key)
    key = key.ljust(64, b"\x00")
    inner = sm3(bytes(k ^ 0x36 for k in key) + message)
    return sm3(bytes(k ^ 0x5C for k in key) + inner)


def hkdf_sm3(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF (RFC 5869) extract-and-expand with HMAC-SM3."""
    prk = hmac_sm3(salt or bytes(32), ikm)
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac_sm3(prk, block + info + bytes([counter]))
        out += block
        counter += 1
    return out[:length]
