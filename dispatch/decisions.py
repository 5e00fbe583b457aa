"""What becomes of a message when RCS cannot deliver it, and what an operator's delivery status
means for it: the RCS-or-SMS decision, in one place."""

from __future__ import annotations

from typing import Any

from messages.lifecycle import KEEP, Change
from messages.status import Status
from rcs.results import DeliveryEvent, FailedAction, SendResult, classify_failed_code

S = Status
SOURCE = "dispatcher"
OPERATOR = "maap"

# Why RCS could not deliver → what a message without SMS fallback becomes: its TTL ran out
# (`expired`), or RCS cannot reach the number at all (`failed`).
_EXPIRY_REASONS = frozenset({"ttl_expired_revoked", "revoke_refused"})
# A revoke asked before the TTL because the operator reported nothing: revokeOk says undelivered.
SILENT_REVOKED = "no_status_revoked"
_SENDING = frozenset({S.QUEUED, S.RCS_SENT})


def to_fallback(
    message_id: str, fallback: str, at_ms: int, reason: str, *, source: str = SOURCE, attempts: Any = KEEP, **detail
) -> Change:
    """RCS cannot deliver: the SMS fallback, or with fallback "none" the end of the message."""
    if fallback == "none":
        return without_fallback(message_id, at_ms, reason, source, detail, attempts=attempts)
    return Change(
        message_id,
        S.FALLBACK_PENDING,
        at_ms,
        source,
        {"reason": reason, **detail},
        when=_SENDING,
        due_ms=at_ms,
        attempts=attempts,
    )


def without_fallback(
    message_id: str,
    at_ms: int,
    reason: str,
    source: str,
    detail: dict,
    *,
    attempts: Any = KEEP,
    when: frozenset[Status] | None = _SENDING,
) -> Change:
    """The end of a message whose batch asked for no SMS fallback (`"fallback": "none"`)."""
    status = S.EXPIRED if reason in _EXPIRY_REASONS else S.FAILED
    return Change(
        message_id,
        status,
        at_ms,
        source,
        {**detail, "reason": reason, "fallback": "none"},
        when=when,
        due_ms=None,
        attempts=attempts,
    )


def delivery_change(
    event: DeliveryEvent, now_ms: int, no_fallback: bool = False, *, cancelled: bool = False, silent: bool = False
) -> Change | None:
    """The lifecycle change an operator's delivery status makes (None: nothing to record).
    `cancelled`: the revoke was asked by a cancel, so a `revokeOk` ends the message; `silent`:
    it was asked before the TTL because the operator had reported nothing."""
    at_ms = int(event.at.timestamp() * 1000)
    detail: dict = {"maap_status": event.status}
    mid = event.message_id
    if event.status == "delivered":
        # Late (after the SMS went) it is recorded, never acted on.
        return Change(mid, S.RCS_DELIVERED, at_ms, OPERATOR, detail, due_ms=None, record_anyway=True)
    if event.status == "displayed":
        return Change(mid, S.RCS_READ, at_ms, OPERATOR, detail, due_ms=None, record_anyway=True)
    if event.status == "revokeOk" and cancelled:
        return Change(mid, S.REVOKED, at_ms, OPERATOR, {**detail, "reason": "cancelled"}, when=_SENDING, due_ms=None)
    if event.status == "revokeOk":
        reason = SILENT_REVOKED if silent else "ttl_expired_revoked"
        after = (
            without_fallback(mid, now_ms, reason, SOURCE, {}, when=None)
            if no_fallback
            else Change(mid, S.FALLBACK_PENDING, now_ms, SOURCE, {"reason": reason}, due_ms=now_ms)
        )
        return Change(mid, S.REVOKED, at_ms, OPERATOR, detail, when=_SENDING, due_ms=None, then=[after])
    if event.status == "revokeFail":
        # Too late to withdraw: the RCS message reached the handset, so no SMS. (After a
        # silence this is how a delivery whose status callback was lost comes to light.)
        if silent:
            detail["reason"] = "delivered; its status was never reported"
        return Change(mid, S.RCS_DELIVERED, at_ms, OPERATOR, detail, when=frozenset({S.RCS_SENT}), due_ms=None)
    if event.status == "failed":
        action = classify_failed_code(event.error_code)
        detail["error_code"] = event.error_code
        if action in (FailedAction.SMS_NOW, FailedAction.UNKNOWN):
            if no_fallback:
                return without_fallback(mid, at_ms, "rcs_failed", OPERATOR, detail)
            return Change(
                mid,
                S.FALLBACK_PENDING,
                now_ms,
                OPERATOR,
                {**detail, "reason": "rcs_failed"},
                when=_SENDING,
                due_ms=now_ms,
            )
        if action in (FailedAction.REFUSED, FailedAction.CONTENT_REFUSED):
            reason = "the user refused this chatbot" if action is FailedAction.REFUSED else "content refused"
            return Change(mid, S.FAILED, at_ms, OPERATOR, {**detail, "reason": reason}, when=_SENDING, due_ms=None)
        return None  # offline with storing on: the MaaP keeps trying until our TTL revoke
    return None  # sent / deliveredToNetwork: rcs_sent was recorded when the MaaP accepted


def error_detail(result: SendResult) -> str:
    """A short, PII-free description of a refused send or revoke."""
    parts = []
    if result.http_status is not None:
        parts.append(f"HTTP {result.http_status}")
    if result.code is not None:
        parts.append(f"errorCode {result.code}")
    if result.detail and not parts:
        parts.append(result.detail[:120])
    return " ".join(parts) or result.outcome.value
