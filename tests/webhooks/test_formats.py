"""The webhook body and signature formats (golden files) and the retry schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

import security
import webhooks.outbox
import webhooks.service
from security.reference import hmac_sm3
from webhooks.outbox import ms_to_rfc3339

GOLDEN = Path(__file__).parent / "golden"
AT_MS = 1_795_000_000_123
SECRET = "whsec_golden"


def status_body() -> bytes:
    data = webhooks.outbox.status_data(
        message_id="0193a0c1d2e37f0a8b9c0d1e2f3a4b5c",
        batch_id="0193a0c1d2e37f0a8b9c0d1e2f3a4b00",
        to="+8613800138001",
        status="rcs_delivered",
        at_ms=AT_MS,
        source="maap",
        detail={"operator": "cn_csp"},
    )
    return webhooks.outbox.event_body("0193a0c1d2e37f0a8b9c0d1e2f3a4bff", "message.status", AT_MS, data)


def user_event_body() -> bytes:
    data = {"message_id": "0193a0c1d2e37f0a8b9c0d1e2f3a4b5c", "type": "postback", "postback": {"data": "detail"}}
    return webhooks.outbox.event_body("0193a0c1d2e37f0a8b9c0d1e2f3a4bfe", "message.user_event", AT_MS, data)


@pytest.mark.parametrize("name,build", [("status_event.json", status_body), ("user_event.json", user_event_body)])
def test_event_body_matches_golden(name, build):
    assert build() == (GOLDEN / name).read_bytes().rstrip(b"\n")


def test_signature_header_matches_golden():
    header = security.sign_webhook(SECRET, status_body(), AT_MS // 1000)
    assert header == (GOLDEN / "status_event.signature").read_text().strip()
    assert security.verify_webhook(SECRET, status_body(), header, AT_MS // 1000) == AT_MS // 1000
    # Independently: gmssl's SM3 in a textbook HMAC over "<t>." + body.
    t = AT_MS // 1000
    assert header == f"t={t},v1=" + hmac_sm3(SECRET.encode(), f"{t}.".encode() + status_body()).hex()


def test_rfc3339_is_utc_milliseconds():
    assert ms_to_rfc3339(AT_MS) == "2026-11-18T11:06:40.123Z"


@pytest.mark.parametrize(
    "attempt,rand,expected",
    [
        (1, 0.5, 5.0),  # base
        (2, 0.5, 10.0),  # doubles
        (5, 0.5, 80.0),
        (1, 0.0, 4.0),  # -20 % jitter
        (1, 1.0, 6.0),  # +20 % jitter
        (20, 0.5, 3600.0),  # capped
        (500, 1.0, 4320.0),  # no overflow far out
    ],
)
def test_exponential_backoff(attempt, rand, expected):
    delay = webhooks.service.exponential_backoff(5.0, 3600.0, rand=lambda: rand)
    assert delay(attempt) == pytest.approx(expected)


def test_default_schedule_retries_for_more_than_a_day():
    delay = webhooks.service.exponential_backoff(5.0, 3600.0, rand=lambda: 0.0)
    total, attempts = 0.0, 0
    while total < 86400:
        attempts += 1
        total += delay(attempts)
    assert 20 < attempts < 40  # hourly once capped: a day of retries is a few dozen attempts


def test_unknown_kind_is_refused():
    from store.writer import WriteBatch

    with pytest.raises(ValueError):
        webhooks.outbox.enqueue(
            WriteBatch(), None, tenant_id="t", message_id="m", kind="rcs_read", payload={}, at_ms=AT_MS, event_id="e"
        )
