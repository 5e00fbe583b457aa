"""Classification of synchronous MaaP answers and `failed` codes; the callback event types."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rcs.results import (
    DELIVERY_STATUSES,
    NOTICE_KINDS,
    USER_EVENT_KINDS,
    DeliveryEvent,
    FailedAction,
    Location,
    MediaFile,
    Notice,
    Outcome,
    UserEvent,
    classify_code,
    classify_failed_code,
    classify_http,
)
from rcs.simulator import Behaviour, behaviour_of

CODE_TABLE = [
    (-1, Outcome.RETRY),
    (-2, Outcome.RETRY),
    (30001, Outcome.THROTTLE),
    (30002, Outcome.THROTTLE),
    (30003, Outcome.THROTTLE),
    (30004, Outcome.THROTTLE),
    (45001, Outcome.THROTTLE),
    (40001, Outcome.TOKEN),
    (40014, Outcome.TOKEN),
    (42001, Outcome.TOKEN),
    (40022, Outcome.REUPLOAD),
    (40005, Outcome.INVALID),
    (40006, Outcome.INVALID),
    (40007, Outcome.INVALID),
    *[(c, Outcome.INVALID) for c in range(40016, 40022)],
    (46003, Outcome.PERMANENT),
    (60002, Outcome.PERMANENT),
    (70001, Outcome.PERMANENT),
    (99999, Outcome.PERMANENT),
]


@pytest.mark.parametrize("code, outcome", CODE_TABLE)
def test_sync_codes(code, outcome):
    assert classify_code(code) is outcome
    result = classify_http(400 if outcome is not Outcome.RETRY else 503, code)
    assert (result.accepted, result.outcome, result.code) == (False, outcome, code)


@pytest.mark.parametrize(
    "status, code, retry_after, accepted, outcome",
    [
        (200, 0, None, True, Outcome.ACCEPTED),
        (200, None, None, True, Outcome.ACCEPTED),
        (200, 30001, None, False, Outcome.THROTTLE),  # an errorCode in a 200 still counts
        (429, None, 7.0, False, Outcome.THROTTLE),
        (500, None, None, False, Outcome.RETRY),
        (502, None, None, False, Outcome.RETRY),
        (503, -1, None, False, Outcome.RETRY),
        (408, None, None, False, Outcome.RETRY),
        (401, None, None, False, Outcome.TOKEN),
        (404, None, None, False, Outcome.PERMANENT),
    ],
)
def test_http_answers(status, code, retry_after, accepted, outcome):
    result = classify_http(status, code, retry_after)
    assert (result.accepted, result.outcome, result.http_status) == (accepted, outcome, status)
    if status == 429:
        assert result.retry_after == retry_after


@pytest.mark.parametrize(
    "code, action",
    [
        (1, FailedAction.SMS_NOW),
        (2, FailedAction.SMS_NOW),
        (4, FailedAction.SMS_IF_NOT_STORED),
        (5, FailedAction.REFUSED),
        (3, FailedAction.CONTENT_REFUSED),
        (6, FailedAction.CONTENT_REFUSED),
        (77, FailedAction.UNKNOWN),
        (None, FailedAction.UNKNOWN),
    ],
)
def test_failed_codes(code, action):
    assert classify_failed_code(code) is action


@pytest.mark.parametrize(
    "number, behaviour",
    [
        ("+8613800001230", Behaviour.NOT_CAPABLE),
        ("+8613800001220", Behaviour.NOT_CAPABLE),
        ("+8613800001200", Behaviour.NOT_CAPABLE),
        ("+8613800001239", Behaviour.NOT_CAPABLE),
        ("+8613800001231", Behaviour.NORMAL),
        ("+8613800001236", Behaviour.NORMAL),
        ("+8613800001237", Behaviour.NEVER_DELIVERED),
        ("+8613800001218", Behaviour.FLAKY),
        ("+8613800001244", Behaviour.CALLBACKS_LOST),
        ("+8613800001255", Behaviour.UNREAD),
        ("+8613800001225", Behaviour.NORMAL),
    ],
)
def test_magic_numbers(number, behaviour):
    assert behaviour_of(number) is behaviour


AT = datetime(2026, 11, 23, tzinfo=UTC)


def test_the_interfaces_status_and_kind_names():
    assert DELIVERY_STATUSES == {
        "sent",
        "failed",
        "delivered",
        "displayed",
        "deliveredToNetwork",
        "revokeOk",
        "revokeFail",
    }
    assert "device_specifics" in USER_EVENT_KINDS
    assert NOTICE_KINDS == {"spam_report", "audit_result", "information_change"}


def test_new_fields_default_so_existing_constructors_keep_working():
    assert DeliveryEvent("m", "delivered", None, AT).recipient is None
    assert Location(1.0, 2.0) == Location(1.0, 2.0, None, None, None)
    assert MediaFile("u", "image/png", 1).file_name is None
    event = UserEvent(kind="text", message_id=None, from_number="+8613800001231", at=AT, text="hi")
    assert (event.device, event.in_reply_to, event.extra) == (None, None, {})


@pytest.mark.parametrize(
    "result, passed",
    [("pass", True), ("PASS ", True), ("fail", False), ("Fail", False), ("pending", None), (None, None)],
)
def test_notice_passed(result, passed):
    assert Notice("audit_result", "sip:bot@x", AT, result=result).passed is passed
