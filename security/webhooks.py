'''Webhook signatures.

Every webhook POST carries ``Hongyan-Signature: t=<unix seconds>,v1=<lowercase hex>``, where
``v1 = HMAC-SM3(key = UTF-8 bytes of the endpoint secret, message = f"{t}." + raw body)``.
Receivers recompute it over the raw body bytes (before any JSON parsing) and reject a ``t``
more than 5 minutes away from their clock. While a secret is being rotated the header may
carry several ``v1`` entries; any one matching is enough.

Verifying in your own service (copy-paste; Python 3.8+, no Hongyan code needed)::

    import hashlib, hmac, time

    def verify_hongyan_signature(secret: str, raw_body: bytes, header: str, tolerance: int = 300) -> None:
        """Raise ValueError unless `header` (the Hongyan-Signature value) signs `raw_body`."""
        fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
        stamps = [v for k, v in fields if k.strip() == "t"]
        signatures = [v.strip() for k, v in fields if k.strip() == "v1"]
        if len(stamps) != 1 or not stamps[0].strip().isdigit() or not signatures:
            raise ValueError("malformed Hongyan-Signature header")
        t = int(stamps[0])
        if abs(time.time() - t) > tolerance:
            raise ValueError("webhook timestamp outside the tolerance: possible replay")
        # SM3 through OpenSSL; if hashlib lacks "sm3", use the `cryptography` package:
        # cryptography.hazmat.primitives.hmac.HMAC(key, hashes.SM3())
        expected = hmac.new(secret.encode(), str(t).encode() + b"." + raw_body, "sm3").hexdigest()
        if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in signatures):
            raise ValueError("webhook signature does not match")
'''

from __future__ import annotations

import base64
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from security.numbers import ascii_digits

SIGNATURE_HEADER = "Hongyan-Signature"
DEFAULT_TOLERANCE = 300


class WebhookSignatureError(ValueError):
    """The webhook is not authentic or not fresh; the message says which check failed."""


def new_webhook_secret() -> str:
    """A new endpoint secret (256 random bits), shown to the integrator once."""
    return "whsec_" + base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=").lower()


def webhook_signature(secret: str, body: bytes, t: int) -> str:
    """Lowercase hex HMAC-SM3 of ``f"{t}." + body`` keyed with the secret's UTF-8 bytes."""
    mac = crypto_hmac.HMAC(secret.encode("utf-8"), hashes.SM3())
    mac.update(b"%d." % t)
    mac.update(body)
    return mac.finalize().hex()


def sign_webhook(secret: str, body: bytes, now: int) -> str:
    """The ``Hongyan-Signature`` header value for ``body`` sent at unix time ``now``."""
    return f"t={int(now)},v1={webhook_signature(secret, body, int(now))}"


def verify_webhook(secret: str, body: bytes, header: str | None, now: int, tolerance: int = DEFAULT_TOLERANCE) -> int:
    """Check a ``Hongyan-Signature`` header; returns its timestamp or raises WebhookSignatureError."""
    if not header:
        raise WebhookSignatureError(f"missing {SIGNATURE_HEADER} header")
    stamps, signatures = [], []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookSignatureError(f"malformed {SIGNATURE_HEADER} header: {part.strip()!r}")
        if name == "t":
            stamps.append(value)
        elif name == "v1":
            signatures.append(value)
        # other schemes (v2, …) are ignored so senders can add them without breaking receivers
    if len(stamps) != 1 or not ascii_digits(stamps[0]):
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} needs exactly one t=<unix seconds>")
    if not signatures:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} has no v1 signature")
    t = int(stamps[0])
    if abs(now - t) > tolerance:
        raise WebhookSignatureError(
            f"timestamp {t} is {abs(now - t)} s from now (tolerance {tolerance} s): stale or replayed"
        )
    expected = webhook_signature(secret, body, t).encode()
    if not any(hmac.compare_digest(expected, s.encode()) for s in signatures):
        raise WebhookSignatureError("signature does not match the body and secret")
    return t
