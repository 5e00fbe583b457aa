"""Typed answers from an operator's MaaP: send outcomes, capability, callback events.

Code tables follow the China Telecom / China Unicom CSP interface V1.0.4.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Outcome(str, enum.Enum):
    """What the dispatcher should do with a synchronous MaaP answer."""

    ACCEPTED = "accepted"
    RETRY = "retry"  # transient: back off and send again
    THROTTLE = "throttle"  # quota / rate exceeded: slow the route, reschedule
    TOKEN = "token"  # token rejected even after one refresh
    REUPLOAD = "reupload"  # temporary media expired: upload again, then retry
    INVALID = "invalid"  # validation: fail, tell the sender
    PERMANENT = "permanent"  # never succeeds: fall back or fail


class Capability(str, enum.Enum):
    """A capability answer; deliberately not a boolean."""

    SUPPORTED = "supported"
    NOT_SUPPORTED = "not_supported"
    UNKNOWN = "unknown"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class SendResult:
    """The synchronous answer to a send or revoke."""

    accepted: bool
    outcome: Outcome
    code: int | None = None  # the MaaP errorCode, when it gave one
    http_status: int | None = None
    retry_after: float | None = None  # seconds, from Retry-After
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MediaFile:
    """An uploaded file as the MaaP describes it (GSMA file-info fields)."""

    url: str
    content_type: str
    file_size: int
    until: str | None = None
    thumbnail_url: str | None = None
    file_name: str | None = None


# Synchronous errorCode → outcome (CSP interface V1.0.4).
TOKEN_CODES = frozenset({40001, 40014, 41001, 42001})
_CODE_OUTCOMES: dict[int, Outcome] = {
    -1: Outcome.RETRY,
    -2: Outcome.RETRY,
    **{c: Outcome.THROTTLE for c in (30001, 30002, 30003, 30004, 45001)},
    **{c: Outcome.TOKEN for c in TOKEN_CODES},
    40022: Outcome.REUPLOAD,
    # Refused as sent (bad parameters, message type, JSON, content, or a sender that is not the
    # chatbot): sending it again cannot help; the sender is told.
    **{c: Outcome.INVALID for c in (20002, 30008, 40005, 40006, 40007, 40008, *range(40016, 40022))},
    **{c: Outcome.INVALID for c in (47001, 47002, 60001, 60003)},
    **{c: Outcome.PERMANENT for c in (46003, 60002, 70001)},
}


def classify_code(code: int) -> Outcome:
    """Outcome of a non-zero synchronous errorCode; unknown codes count as permanent
    so an unrecognised refusal falls back instead of retrying forever."""
    return _CODE_OUTCOMES.get(code, Outcome.PERMANENT)


def classify_http(status: int, code: int | None, retry_after: float | None = None) -> SendResult:
    """Classify one HTTP answer of the MaaP (status plus the errorCode in its body)."""
    if 200 <= status < 300 and code in (None, 0):
        return SendResult(True, Outcome.ACCEPTED, code, status)
    if status == 429:
        return SendResult(False, Outcome.THROTTLE, code, status, retry_after)
    if code not in (None, 0):
        return SendResult(False, classify_code(code), code, status, retry_after)
    if status >= 500 or status in (408,):
        return SendResult(False, Outcome.RETRY, code, status, retry_after)
    if status in (401,):
        return SendResult(False, Outcome.TOKEN, code, status)
    return SendResult(False, Outcome.PERMANENT, code, status)


class FailedAction(str, enum.Enum):
    """What a `failed` delivery status means for fallback."""

    SMS_NOW = "sms_now"  # 1 terminal not found, 2 not a 5G-message terminal
    SMS_IF_NOT_STORED = "sms_if_not_stored"  # 4 offline: the MaaP stores unless storing is off
    REFUSED = "refused"  # 5 the user refused this chatbot: record, no fallback
    CONTENT_REFUSED = "content_refused"  # 3, 6: failed, tell the sender
    UNKNOWN = "unknown"


_FAILED_ACTIONS = {
    1: FailedAction.SMS_NOW,
    2: FailedAction.SMS_NOW,
    3: FailedAction.CONTENT_REFUSED,
    4: FailedAction.SMS_IF_NOT_STORED,
    5: FailedAction.REFUSED,
    6: FailedAction.CONTENT_REFUSED,
}

# A `failed` with one of these codes tells us the number cannot take RCS now.
CAPABILITY_FAILURE_CODES = frozenset({1, 2})


def classify_failed_code(code: int | None) -> FailedAction:
    """Map the errorCode of a `failed` delivery status to the fallback decision."""
    return _FAILED_ACTIONS.get(code, FailedAction.UNKNOWN) if code is not None else FailedAction.UNKNOWN


# The statuses a deliveryNotification can carry (CSP interface V1.0.4).
DELIVERY_STATUSES = frozenset(
    {"sent", "failed", "delivered", "displayed", "deliveredToNetwork", "revokeOk", "revokeFail"}
)


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """One entry of a deliveryNotification callback."""

    message_id: str
    status: str  # one of DELIVERY_STATUSES; an unknown one is passed on as given
    error_code: int | None
    at: datetime
    error_message: str | None = None
    # The user's number (E.164) the status is about; one messageId can cover several numbers.
    recipient: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    label: str | None = None
    crs: str | None = None  # coordinate system when given, e.g. "gcj02" (China's offset datum), "wgs84"
    uncertainty_m: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceSpecifics:
    """What a handset shares after a requestDeviceSpecifics action (every field optional)."""

    device_model: str | None = None
    platform_version: str | None = None
    client_vendor: str | None = None
    client_version: str | None = None
    battery_remaining_minutes: int | None = None


# UserEvent.kind values.
USER_EVENT_KINDS = frozenset({"text", "suggestion_response", "location", "file", "device_specifics"})


@dataclass(frozen=True, slots=True)
class UserEvent:
    """A mobile-originated callback: text, a tapped suggestion, a location, a file or the
    device specifics a handset shared.

    To find the message a reply or tap answers: `in_reply_to` when given, else the newest
    message sent to `from_number` in `conversation_id`.
    """

    kind: str  # one of USER_EVENT_KINDS
    message_id: str | None  # the MaaP's id of this mobile-originated message
    from_number: str  # E.164, e.g. +8613812341234
    at: datetime
    text: str | None = None
    postback: str | None = None
    display_text: str | None = None
    location: Location | None = None
    file: MediaFile | None = None
    conversation_id: str | None = None
    contribution_id: str | None = None
    in_reply_to: str | None = None  # contributionId of the message the user answered
    device: DeviceSpecifics | None = None  # kind "device_specifics"
    # suggestion_response: {"suggestion": "reply" | "action"};
    # device_specifics: {"shared_data": <the sharedData object as sent>}
    extra: dict = field(default_factory=dict)


# Notice.kind values.
SPAM_REPORT = "spam_report"
AUDIT_RESULT = "audit_result"
INFORMATION_CHANGE = "information_change"
NOTICE_KINDS = frozenset({SPAM_REPORT, AUDIT_RESULT, INFORMATION_CHANGE})


@dataclass(frozen=True, slots=True)
class Notice:
    """A notifyInfoNotification callback: a user's spam report, an audit result, or a change of
    the chatbot's information. Fields a kind does not have stay None / empty."""

    kind: str  # one of NOTICE_KINDS
    chatbot_id: str
    at: datetime  # the audit time for audit results; when we received it otherwise
    # spam_report: the reported messages (our messageIds); empty when the chatbot itself is reported
    message_ids: tuple[str, ...] = ()
    spam_type: str | None = None
    free_text: str | None = None  # the reporter's own words
    # audit_result
    audit_type: str | None = None  # "chatbotInformation" | "media" | "message"
    result: str | None = None  # "pass" | "fail"
    description: str | None = None  # the auditor's note
    remark: str | None = None  # as sent, e.g. "messageId: cb118…", "url: http://…", "chatbotId: sip:…"
    subject_kind: str | None = None  # the remark's key: "messageId" | "url" | "chatbotId"
    subject: str | None = None  # the remark's value: the audited message id, media url or chatbot
    raw: dict = field(default_factory=dict)  # the body as received (unknown fields included)

    @property
    def passed(self) -> bool | None:
        """For an audit result: True on pass, False on fail, None otherwise."""
        if self.result is None:
            return None
        verdict = self.result.strip().lower()
        return True if verdict == "pass" else False if verdict == "fail" else None
