"""Webhook signatures: exact header, verification errors, the docstring example."""

from __future__ import annotations

import re
import time

import pytest

import security.webhooks as webhooks
from security.reference import hmac_sm3
from security.webhooks import (
    SIGNATURE_HEADER,
    WebhookSignatureError,
    new_webhook_secret,
    sign_webhook,
    verify_webhook,
)

SECRET = "whsec_test_密钥"
BODY = b'{"event_id":"evt_1","type":"rcs_delivered","message_id":"m1"}'
NOW = 1_795_000_000


def test_header_format_and_independent_hmac():
    header = sign_webhook(SECRET, BODY, NOW)
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    assert match and int(match.group(1)) == NOW
    assert match.group(2) == hmac_sm3(SECRET.encode("utf-8"), f"{NOW}.".encode() + BODY).hex()
    assert SIGNATURE_HEADER == "Hongyan-Signature"


def test_verify_accepts_within_tolerance():
    header = sign_webhook(SECRET, BODY, NOW)
    for now in (NOW, NOW + 300, NOW - 300):
        assert verify_webhook(SECRET, BODY, header, now) == NOW
    assert verify_webhook(SECRET, BODY, " t={} , v1={} ".format(*header[2:].split(",v1=")), NOW) == NOW


def test_secret_rotation_with_two_signatures():
    old, new = new_webhook_secret(), new_webhook_secret()
    header = sign_webhook(old, BODY, NOW) + ",v1=" + sign_webhook(new, BODY, NOW).split("v1=")[1]
    assert verify_webhook(old, BODY, header, NOW) == NOW
    assert verify_webhook(new, BODY, header, NOW) == NOW


@pytest.mark.parametrize(
    ("header", "body", "now", "secret", "message"),
    [
        (None, BODY, NOW, SECRET, "missing"),
        ("", BODY, NOW, SECRET, "missing"),
        ("garbage", BODY, NOW, SECRET, "malformed"),
        ("v1=00", BODY, NOW, SECRET, "exactly one t"),
        ("t=abc,v1=00", BODY, NOW, SECRET, "exactly one t"),
        (f"t={NOW},t={NOW},v1=00", BODY, NOW, SECRET, "exactly one t"),
        (f"t={NOW}", BODY, NOW, SECRET, "no v1"),
        ("SIGNED", BODY + b" ", NOW, SECRET, "does not match"),
        ("SIGNED", BODY, NOW, SECRET + "x", "does not match"),
        ("SIGNED", BODY, NOW + 301, SECRET, "stale or replayed"),
        ("SIGNED", BODY, NOW - 301, SECRET, "stale or replayed"),
        (f"t={NOW},v1=签名", BODY, NOW, SECRET, "does not match"),
    ],
)
def test_verify_rejects(header, body, now, secret, message):
    if header == "SIGNED":
        header = sign_webhook(SECRET, BODY, NOW)
    with pytest.raises(WebhookSignatureError, match=message):
        verify_webhook(secret, body, header, now)


def test_new_secrets():
    secrets_ = {new_webhook_secret() for _ in range(50)}
    assert len(secrets_) == 50
    assert all(re.fullmatch(r"whsec_[a-z2-7]{52}", s) for s in secrets_)


def test_docstring_example_runs_against_real_signatures():
    # The example integrators copy must work as printed.
    code = webhooks.__doc__.split("::", 1)[1]
    namespace: dict = {}
    exec(compile("\n".join(line[4:] for line in code.splitlines()), "docstring", "exec"), namespace)
    verify = namespace["verify_hongyan_signature"]
    now = int(time.time())
    verify(SECRET, BODY, sign_webhook(SECRET, BODY, now))
    for bad in (sign_webhook(SECRET, BODY + b"x", now), sign_webhook(SECRET, BODY, now - 3600), "nonsense"):
        with pytest.raises(ValueError):
            verify(SECRET, BODY, bad)
