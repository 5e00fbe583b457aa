"""Known-answer tests on published SM3/SM4 vectors, and differential tests against gmssl.

The vectors live in tests/security/vectors/sm_known_answers.json: GB/T 32905-2016 Appendix A (SM3),
GB/T 32907-2016 Appendix A (SM4, including the 1,000,000-times iterated example), RFC 8998
Appendix A (SM4-GCM and SM4-CCM), draft-ribose-cfrg-sm4-10 Appendix A and OpenSSL's SM4 test data
(modes of operation).
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.decrepit.ciphers import modes as decrepit_modes
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from security import merkle, open_sealed, seal
from security.reference import (
    ReferenceSM4,
    ccm_encrypt,
    hkdf_sm3,
    hmac_sm3,
    sm3,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)
from security.sealing import associated_data

MODES = {
    "ECB": lambda v: modes.ECB(),
    "CBC": lambda v: modes.CBC(bytes.fromhex(v["iv"])),
    "OFB": lambda v: decrepit_modes.OFB(bytes.fromhex(v["iv"])),
    "CFB": lambda v: decrepit_modes.CFB(bytes.fromhex(v["iv"])),
    "CTR": lambda v: modes.CTR(bytes.fromhex(v["iv"])),
}

# The standards' own examples: the vector file must never lose one of them.
REQUIRED = {
    "sm3": {"gbt32905-example-1", "gbt32905-example-2"},
    "sm4_block": {"gbt32907-example-1", "gbt32907-example-2"},
    "sm4_aead": {"rfc8998-sm4-gcm", "rfc8998-sm4-ccm"},
}


def _hex(vector, *names):
    return [bytes.fromhex(vector[n]) for n in names]


def _openssl_block(key: bytes):
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return encryptor.update


def _aead(crypto_vectors, mode):
    (vector,) = [v for v in crypto_vectors["sm4_aead"] if v["mode"] == mode]
    return vector


def test_vector_file_is_complete(crypto_vectors):
    assert set(crypto_vectors) == {"sm3", "sm4_block", "sm4_modes", "sm4_aead"}
    for group, names in REQUIRED.items():
        assert names <= {v["name"] for v in crypto_vectors[group]}, group
    names = [v["name"] for vectors in crypto_vectors.values() for v in vectors]
    assert len(names) == len(set(names))
    for vectors in crypto_vectors.values():
        for vector in vectors:
            assert vector["source"].strip(), vector["name"]
    iterated = {v["name"]: v["iterations"] for v in crypto_vectors["sm4_block"]}
    assert iterated["gbt32907-example-1"] == 1
    assert iterated["gbt32907-example-2"] == 1_000_000


def test_sm4_block(crypto_vectors):
    for vector in crypto_vectors["sm4_block"]:
        key, block, expected = _hex(vector, "key", "plaintext", "ciphertext")
        encrypt = _openssl_block(key)
        for _ in range(vector["iterations"]):
            block = encrypt(block)
        assert block == expected, vector["name"]
        if vector["iterations"] == 1:
            # gmssl is the independent reference; it is too slow for the 1,000,000-round vector.
            plain = bytes.fromhex(vector["plaintext"])
            assert ReferenceSM4(key).encrypt_block(plain) == expected, vector["name"]
            decryptor = Cipher(algorithms.SM4(key), modes.ECB()).decryptor()
            assert decryptor.update(expected) + decryptor.finalize() == plain, vector["name"]


def test_sm4_modes(crypto_vectors):
    vectors = crypto_vectors["sm4_modes"]
    assert {v["mode"] for v in vectors} == set(MODES)
    for vector in vectors:
        key, plaintext, expected = _hex(vector, "key", "plaintext", "ciphertext")
        cipher = Cipher(algorithms.SM4(key), MODES[vector["mode"]](vector))
        encryptor, decryptor = cipher.encryptor(), cipher.decryptor()
        assert encryptor.update(plaintext) + encryptor.finalize() == expected, vector["name"]
        assert decryptor.update(expected) + decryptor.finalize() == plaintext, vector["name"]


def test_sm4_gcm_rfc8998(crypto_vectors):
    vector = _aead(crypto_vectors, "GCM")
    key, nonce, aad, plaintext, ciphertext, tag = _hex(vector, "key", "nonce", "aad", "plaintext", "ciphertext", "tag")
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    assert encryptor.update(plaintext) + encryptor.finalize() == ciphertext
    assert encryptor.tag == tag
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    assert decryptor.update(ciphertext) + decryptor.finalize() == plaintext
    assert sm4_gcm_encrypt(key, nonce, plaintext, aad) == (ciphertext, tag)
    assert sm4_gcm_decrypt(key, nonce, ciphertext, tag, aad) == plaintext
    with pytest.raises(ValueError):
        sm4_gcm_decrypt(key, nonce, ciphertext, bytes(16), aad)


def test_sm4_ccm_rfc8998(crypto_vectors):
    vector = _aead(crypto_vectors, "CCM")
    key, nonce, aad, plaintext, ciphertext, tag = _hex(vector, "key", "nonce", "aad", "plaintext", "ciphertext", "tag")
    # cryptography has no SM4-CCM: the CCM construction runs over both block functions.
    for block in (_openssl_block(key), ReferenceSM4(key).encrypt_block):
        assert ccm_encrypt(block, nonce, plaintext, aad) == (ciphertext, tag)


def test_sm3(crypto_vectors):
    for vector in crypto_vectors["sm3"]:
        message, digest = _hex(vector, "message", "digest")
        if "message_ascii" in vector:  # the standard prints these messages as text
            assert message == vector["message_ascii"].encode("ascii"), vector["name"]
        h = hashes.Hash(hashes.SM3())
        h.update(message)
        assert h.finalize() == digest, vector["name"]
        assert sm3(message) == digest, vector["name"]
        for fast in (merkle._sm3_cryptography, merkle.sm3):  # the evidence log's (hashlib where it has SM3)
            assert fast(message) == digest, vector["name"]
            assert fast(message) == digest, vector["name"]  # twice: the hashlib path copies a shared state


# -- differential: OpenSSL (cryptography) against the gmssl-based reference --------------------


@settings(max_examples=40, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    nonce=st.binary(min_size=12, max_size=12),
    plaintext=st.binary(max_size=80),
    aad=st.binary(max_size=80),
)
def test_gcm_matches_reference(key, nonce, plaintext, aad):
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    assert sm4_gcm_encrypt(key, nonce, plaintext, aad) == (ciphertext, encryptor.tag)


@settings(max_examples=25, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    nonce=st.binary(min_size=12, max_size=12),
    key_id=st.integers(0, 2**32 - 1),
    plaintext=st.binary(max_size=64),
    place=st.tuples(*[st.text(max_size=12)] * 4),
)
def test_sealed_value_opens_with_reference(key, nonce, key_id, plaintext, place):
    where = dict(zip(("tenant_id", "table", "column", "row_id"), place))
    sealed = seal(key, key_id, plaintext, nonce=nonce, **where)
    body, tag = sealed[18:-16], sealed[-16:]
    assert sm4_gcm_decrypt(key, nonce, body, tag, associated_data(key_id, **where)) == plaintext
    # and the other way round: a value built by the reference opens through the fast path
    ciphertext, tag = sm4_gcm_encrypt(key, nonce, plaintext, associated_data(key_id, **where))
    assert open_sealed(lambda _: key, sealed[:18] + ciphertext + tag, **where) == plaintext


@settings(max_examples=30, deadline=None)
@given(key=st.binary(max_size=100), message=st.binary(max_size=150))
def test_hmac_sm3_matches_reference(key, message):
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(message)
    assert mac.finalize() == hmac_sm3(key, message)


@settings(max_examples=15, deadline=None)
@given(
    ikm=st.binary(min_size=1, max_size=40),
    salt=st.binary(max_size=40),
    info=st.binary(max_size=20),
    length=st.integers(1, 80),
)
def test_hkdf_sm3_matches_reference(ikm, salt, info, length):
    derived = HKDF(algorithm=hashes.SM3(), length=length, salt=salt or None, info=info).derive(ikm)
    assert derived == hkdf_sm3(ikm, salt=salt, info=info, length=length)


def test_blind_index_is_hmac_sm3_under_hkdf_of_the_index_key(keyring, master):
    from security.keyring import _lp, _wrap_context

    index_record = next(r for r in keyring.records("tenant-a") if r.purpose == "index")
    index_key = master.unwrap(
        index_record.master_key_id,
        index_record.wrapped,
        context=_wrap_context("tenant-a", index_record.key_id, "index"),
    )
    salt = _lp(b"hongyan/blind-index") + _lp(b"tenant-a")
    for purpose in ("recipient", "idempotency"):
        derived = hkdf_sm3(index_key, salt=salt, info=purpose.encode(), length=32)
        expected = hmac_sm3(derived, b"+8613812341234")
        assert keyring.blind_index("tenant-a", "+8613812341234", purpose=purpose) == expected
