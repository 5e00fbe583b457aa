"""API keys: format, entropy, hashing with a pepper, constant-time check, scopes."""

from __future__ import annotations

import re

import pytest

from security.apikeys import (
    SCOPES,
    api_key_id,
    check_api_key,
    format_scopes,
    has_scope,
    hash_api_key,
    new_api_key,
    parse_scopes,
)
from security.reference import hmac_sm3


def test_new_key_format_and_hash():
    key, key_id, key_hash = new_api_key()
    assert re.fullmatch(r"hy_live_[0-9a-f]{16}_[a-z2-7]{39}", key)
    assert key.split("_")[2] == key_id and api_key_id(key) == key_id
    secret = key.split("_")[3]
    assert len(secret) * 5 >= 192  # base32: 5 bits a character
    assert len(key_hash) == 32 and key.encode() not in key_hash and secret.encode() not in key_hash
    assert key_hash == hmac_sm3(b"hongyan/api-key/v1\x00", key.encode())  # independent SM3
    assert check_api_key(key, key_hash)


def test_keys_are_unique():
    keys = {new_api_key()[0] for _ in range(200)}
    assert len(keys) == 200


def test_deterministic_with_injected_randomness():
    fixed = lambda n: bytes(range(n))  # noqa: E731
    key, key_id, key_hash = new_api_key(environment="test", token_bytes=fixed)
    assert key == "hy_test_0001020304050607_aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfy"
    assert key_id == "0001020304050607"


@pytest.mark.parametrize(
    "presented",
    [
        lambda k: k[:-1] + ("a" if k[-1] != "a" else "b"),  # one secret character changed
        lambda k: k.replace("hy_live_", "hy_test_"),
        lambda k: k + "a",
        lambda k: k.upper(),
        lambda k: "",
        lambda k: "Bearer " + k,
    ],
)
def test_wrong_keys_are_refused(presented):
    key, _, key_hash = new_api_key()
    assert not check_api_key(presented(key), key_hash)


def test_pepper_changes_the_hash():
    key, _, key_hash = new_api_key(pepper=b"server pepper")
    assert check_api_key(key, key_hash, pepper=b"server pepper")
    assert not check_api_key(key, key_hash)
    assert hash_api_key(key) != key_hash


@pytest.mark.parametrize(
    "text", ["", "hy_live_xyz_abc", "sk_live_0123456789abcdef_" + "a" * 39, "hy_prod_0123456789abcdef_" + "a" * 39]
)
def test_malformed_key_ids(text):
    assert api_key_id(text) is None


def test_bad_environment():
    with pytest.raises(ValueError):
        new_api_key(environment="prod")


def test_scopes():
    assert parse_scopes("messages cards") == {"messages", "cards"}
    assert parse_scopes(["webhooks"]) == {"webhooks"}
    assert (
        format_scopes(SCOPES)
        == "audiences billing campaigns cards channels compliance conversations keys messages privacy reviews templates "
        "users webhooks"
    )
    assert has_scope("messages cards", "cards") and not has_scope("messages", "cards")
    assert has_scope({"webhooks"}, "webhooks")
    with pytest.raises(ValueError, match="admin"):
        parse_scopes("messages admin")
