"""Sealed-value format, round trips and tamper resistance."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from security import SealError, open_sealed, seal, sealed_key_id
from security.sealing import HEADER_SIZE, OVERHEAD, associated_data

GOLDEN = json.loads((Path(__file__).parent / "golden" / "sealed_v1.json").read_text())
KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
PLACE = dict(tenant_id="tenant-a", table="recipients", column="msisdn", row_id="row-1")


def _keys(**by_id):
    return lambda key_id: by_id[f"k{key_id}"]


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"key{c['key_id']}")
def test_golden_format(case):
    place = {k: case[k] for k in ("tenant_id", "table", "column", "row_id")}
    key = bytes.fromhex(case["key"])
    assert associated_data(case["key_id"], **place).hex() == case["associated_data"]
    sealed = seal(key, case["key_id"], case["plaintext_utf8"].encode(), nonce=bytes.fromhex(case["nonce"]), **place)
    assert sealed.hex() == case["sealed"]
    assert sealed_key_id(sealed) == case["key_id"]
    opened = open_sealed(lambda key_id: key, sealed, **place)
    assert opened.decode() == case["plaintext_utf8"]


@pytest.mark.parametrize("size", [0, 1, 14, 16, 4096, 5000])
def test_agrees_with_the_public_cipher_api(size):
    # Sealing makes its GCM contexts without the `Cipher` wrapper: the public API must read
    # what it seals and make what it opens, byte for byte.
    plaintext, nonce = os.urandom(size), os.urandom(12)
    sealed = seal(KEY, 7, plaintext, nonce=nonce, **PLACE)
    decryptor = Cipher(algorithms.SM4(KEY), modes.GCM(nonce, sealed[-16:])).decryptor()
    decryptor.authenticate_additional_data(associated_data(7, **PLACE))
    assert decryptor.update(sealed[HEADER_SIZE:-16]) + decryptor.finalize() == plaintext
    encryptor = Cipher(algorithms.SM4(KEY), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated_data(7, **PLACE))
    body = encryptor.update(plaintext) + encryptor.finalize()
    assert sealed[HEADER_SIZE:] == body + encryptor.tag
    assert open_sealed(_keys(k7=KEY), sealed[:HEADER_SIZE] + body + encryptor.tag, **PLACE) == plaintext


@pytest.mark.parametrize("size", [0, 1, 11, 15, 16, 17, 64, 4095, 4096, 4097, 1 << 20])
def test_round_trip_sizes(size):
    plaintext = os.urandom(size)
    sealed = seal(KEY, 3, plaintext, **PLACE)
    assert len(sealed) == size + OVERHEAD
    assert sealed[:6] == bytes([1, 1, 0, 0, 0, 3])
    assert open_sealed(_keys(k3=KEY), sealed, **PLACE) == plaintext


def test_random_nonce_each_time():
    first, second = (seal(KEY, 1, b"same", **PLACE) for _ in range(2))
    assert first[6:HEADER_SIZE] != second[6:HEADER_SIZE]
    assert first != second


@pytest.mark.parametrize("size", [0, 14, 5000])
def test_every_flipped_byte_fails(size):
    sealed = seal(KEY, 1, os.urandom(size), **PLACE)
    # Header, nonce, ciphertext and tag: every byte (sampled evenly for the large value).
    positions = (
        range(len(sealed))
        if len(sealed) < 200
        else sorted(
            set(range(0, HEADER_SIZE))
            | set(range(HEADER_SIZE, len(sealed), 97))
            | set(range(len(sealed) - 16, len(sealed)))
        )
    )
    for position in positions:
        for bit in (0x01, 0x80):
            tampered = bytearray(sealed)
            tampered[position] ^= bit
            with pytest.raises(SealError):
                open_sealed(lambda key_id: KEY, bytes(tampered), **PLACE)


@pytest.mark.parametrize(
    "moved",
    [
        dict(PLACE, row_id="row-2"),
        dict(PLACE, column="name"),
        dict(PLACE, table="messages"),
        dict(PLACE, tenant_id="tenant-b"),
        # Length prefixes keep boundaries: shifting a character across fields must fail.
        dict(PLACE, table="recipientsm", column="sisdn"),
        dict(PLACE, column="msisdnr", row_id="ow-1"),
    ],
    ids=["row", "column", "table", "tenant", "table|column boundary", "column|row boundary"],
)
def test_moved_ciphertext_fails(moved):
    sealed = seal(KEY, 1, b"+8613812341234", **PLACE)
    with pytest.raises(SealError):
        open_sealed(lambda key_id: KEY, sealed, **moved)


def test_wrong_key_fails():
    sealed = seal(KEY, 1, b"secret", **PLACE)
    with pytest.raises(SealError):
        open_sealed(lambda key_id: os.urandom(16), sealed, **PLACE)


def test_rewritten_key_id_fails_even_with_same_key():
    # The key id is authenticated: relabelling a value to another id does not open.
    sealed = bytearray(seal(KEY, 1, b"secret", **PLACE))
    sealed[5] = 2
    with pytest.raises(SealError):
        open_sealed(lambda key_id: KEY, bytes(sealed), **PLACE)


@pytest.mark.parametrize("error", [KeyError(9), LookupError("retired"), SealError("retired")])
def test_unavailable_key_is_seal_error(error):
    sealed = seal(KEY, 9, b"secret", **PLACE)

    def key_for_id(key_id):
        raise error

    with pytest.raises(SealError):
        open_sealed(key_for_id, sealed, **PLACE)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x01\x01\x00\x00\x00\x01",
        bytes([1, 1]) + bytes(4 + 12 + 15),
        bytes([2, 1]) + bytes(32),
        bytes([1, 9]) + bytes(32),
    ],
    ids=["empty", "header only", "short tag", "unknown version", "unknown alg"],
)
def test_malformed_values(blob):
    with pytest.raises(SealError):
        sealed_key_id(blob)
    with pytest.raises(SealError):
        open_sealed(lambda key_id: KEY, blob, **PLACE)


@pytest.mark.parametrize(
    "kwargs",
    [dict(key=bytes(15)), dict(key_id=-1), dict(key_id=1 << 32), dict(nonce=bytes(8))],
    ids=["short key", "negative id", "id too large", "short nonce"],
)
def test_bad_arguments(kwargs):
    args = dict(key=KEY, key_id=1, plaintext=b"x", **PLACE) | kwargs
    with pytest.raises(ValueError):
        seal(**args)


_PLACES = st.tuples(*[st.text(max_size=10)] * 4)


@settings(max_examples=60, deadline=None)
@given(here=_PLACES, there=_PLACES, plaintext=st.binary(max_size=40))
def test_any_other_place_fails(here, there, plaintext):
    names = ("tenant_id", "table", "column", "row_id")
    sealed = seal(KEY, 1, plaintext, **dict(zip(names, here)))
    if here == there:
        assert open_sealed(lambda _: KEY, sealed, **dict(zip(names, there))) == plaintext
    else:
        with pytest.raises(SealError):
            open_sealed(lambda _: KEY, sealed, **dict(zip(names, there)))
