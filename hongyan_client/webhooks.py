"""Verifying a webhook: `Hongyan-Signature: t=<unix seconds>,v1=<hex HMAC-SM3>` over
`f"{t}." + raw body`, keyed with the endpoint's secret; during a secret rotation several `v1`
values come and any one matching is enough."""

from __future__ import annotations

import hmac
import json
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

DEFAULT_TOLERANCE_S = 300


class WebhookError(ValueError):
    """The webhook is not authentic or not fresh; the message says which check failed."""


def verify_webhook(
    secret: str, body: bytes, header: str | None, *, tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None
) -> dict:
    """The event (`{"id", "type", "created_at", "data"}`) of a webhook whose `Hongyan-Signature`
    header signs the raw `body` with `secret`; raises WebhookError otherwise. Check the body
    before parsing it, and de-duplicate on the event's `id` (deliveries are at least once)."""
    if not header:
        raise WebhookError("no Hongyan-Signature header")
    stamps, signatures = [], []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookError(f"malformed Hongyan-Signature part {part.strip()!r}")
        if name == "t":
            stamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()) or not signatures:
        raise WebhookError("Hongyan-Signature needs one t= and at least one v1=")
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        raise WebhookError("the webhook's time is outside the tolerance: stale or replayed")
    mac = crypto_hmac.HMAC(secret.encode(), hashes.SM3())
    mac.update(b"%d." % t)
    mac.update(body)
    expected = mac.finalize().hex().encode()
    if not any(hmac.compare_digest(expected, s.encode()) for s in signatures):
        raise WebhookError("the signature does not match the body and secret")
    return json.loads(body)
