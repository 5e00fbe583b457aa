"""Send windows re-checked at dispatch time: a marketing message accepted inside its window whose
SMS fallback or late-claimed send falls due after 21:00 waits for 08:00, never goes out at
night, and never reaches the recipient twice; and frequency caps checked again when a send moved
after accept (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server import DISPATCHER
from tests.conftest import ApiClient, card
from tests.dispatch.conftest import event_types, wait_for
from tests.dispatch.test_rules import post_status

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class MovableClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


def local(hour: int, minute: int = 0, day: int = 2, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
async def night_api(aiohttp_server, aiohttp_client, dispatch_settings, dispatch_config):
    """A sandboxed app whose dispatcher runs on a clock the test moves; the tenant on the
    default rules (marketing 08:00–21:00), 20:00 in Shanghai to start."""
    from server import ACCOUNTS, Wiring, create_app

    clock = MovableClock(local(20, 0))
    app = create_app(dispatch_settings, Wiring(clock=clock, dispatch=dispatch_config))
    server = await aiohttp_server(app, port=dispatch_settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Night brand", signature="【鸿雁测试】")
    api = ApiClient(client, tenant.id, key)
    api.clock = clock  # type: ignore[attr-defined]
    return api


async def waited(api, message_id: str, predicate) -> dict:
    """`wait_for` with room for a loaded CI machine: each step here is a dispatcher pass, a
    simulator round trip and a webhook, one after another."""
    return await wait_for(api, message_id, predicate, timeout=30.0)


async def ttl_expiry(api, mid: str, at: datetime) -> None:
    """The TTL runs out at `at`: the revoke succeeds (…7 is never delivered), the SMS is due."""
    api.clock.at = at


async def maap_failed(api, mid: str, at: datetime) -> None:
    """The MaaP reports the terminal unfit for 5G messages at `at`: the SMS is due at once."""
    api.clock.at = at
    await post_status(api, mid, "failed", errorCode=2, errorMessage="not a 5G message terminal")


# (case, traffic type, number, ttl, what happens after rcs_sent, when, deferred?, events up to the SMS)
FALLBACK_CASES = [
    pytest.param(
        "marketing", "+8613800001237", 300, ttl_expiry, local(21, 5), True, id="marketing TTL expiry at 21:05 waits"
    ),
    pytest.param(
        "marketing", "+8613800001237", 3600, maap_failed, local(21, 2), True, id="marketing not capable at 21:02 waits"
    ),
    pytest.param(
        "marketing", "+8613800001237", 240, ttl_expiry, local(20, 59, second=59), False, id="marketing inside: at once"
    ),
    pytest.param("notification", "+8613800001237", 300, ttl_expiry, local(21, 5), False, id="notification: no window"),
]


@pytest.mark.parametrize("traffic, to, ttl, trigger, at, deferred", FALLBACK_CASES)
async def test_an_sms_fallback_due_after_the_window_waits_for_the_next_opening(
    night_api, traffic, to, ttl, trigger, at, deferred
):
    night_api.clock.at = local(20, 55)
    sent = await night_api.post("/v1/messages", {"to": to, "card": card(), "traffic_type": traffic, "ttl": ttl})
    assert sent.status == 202, await sent.text()
    mid = (await sent.json())["messages"][0]["id"]
    await waited(night_api, mid, lambda v: v["status"] == "rcs_sent")
    await trigger(night_api, mid, at)
    if not deferred:
        view = await waited(night_api, mid, lambda v: v["status"] == "sms_delivered")
        assert event_types(view).count("fallback_pending") == 1
        return
    view = await waited(night_api, mid, lambda v: event_types(v).count("fallback_pending") == 2)
    assert view["status"] == "fallback_pending" and "sms_sent" not in event_types(view)
    # (Found by its reason: the MaaP stamps its events with the real time, ours with the test's.)
    [wait] = [e for e in view["events"] if e["type"] == "fallback_pending" and e["detail"].get("rule")]
    assert wait["source"] == "dispatcher"
    assert wait["detail"]["reason"] == "send_window" and wait["detail"]["time_zone"] == "Asia/Shanghai"
    assert wait["detail"]["window"] == {"start": "08:00", "end": "21:00"}
    assert wait["detail"]["send_at"] == stamp(local(8, 0, 3))
    # Still night: nothing is due, however often the dispatcher looks.
    night_api.clock.at = local(7, 59, 3)
    assert await night_api.client.app[DISPATCHER].run_once() == 0
    night_api.clock.at = local(8, 0, 3)
    view = await waited(night_api, mid, lambda v: v["status"] == "sms_delivered")
    types = event_types(view)
    # Never both: the RCS message was withdrawn or refused before the one SMS.
    assert types.count("sms_sent") == 1 and "rcs_delivered" not in types
    [sms] = [e for e in view["events"] if e["type"] == "sms_sent"]
    assert sms["at"] >= stamp(local(8, 0, 3))


async def test_a_send_claimed_after_its_window_closed_is_scheduled_for_the_next_opening(night_api):
    # Accepted at 20:00 for 20:59:30 (inside the window), but only claimed at 21:05.
    sent = await night_api.post(
        "/v1/messages",
        {"to": "+8613800001231", "card": card(), "traffic_type": "marketing", "send_at": stamp(local(20, 59, 2, 30))},
    )
    item = (await sent.json())["messages"][0]
    assert item["status"] == "scheduled"
    night_api.clock.at = local(21, 5)
    # Both together: the view reads the row and its events in two statements, so on PostgreSQL
    # it can show the new event a moment before the row's new status.
    view = await waited(
        night_api, item["id"], lambda v: v["status"] == "scheduled" and event_types(v).count("scheduled") == 2
    )
    assert "rcs_sent" not in event_types(view)
    [wait] = [e for e in view["events"] if e["type"] == "scheduled" and e["detail"].get("rule")]
    assert wait["detail"]["rule"] == "send_window" and wait["detail"]["send_at"] == stamp(local(8, 0, 3))
    night_api.clock.at = local(8, 0, 3)
    view = await waited(night_api, item["id"], lambda v: v["status"] == "rcs_read")
    assert event_types(view).count("rcs_sent") == 1 and "sms_sent" not in event_types(view)


async def test_a_cancel_of_a_deferred_sms_revokes_it(night_api):
    night_api.clock.at = local(20, 55)
    sent = await night_api.post(
        "/v1/messages", {"to": "+8613800001237", "card": card(), "traffic_type": "marketing", "ttl": 300}
    )
    mid = (await sent.json())["messages"][0]["id"]
    await waited(night_api, mid, lambda v: v["status"] == "rcs_sent")
    night_api.clock.at = local(21, 5)
    await waited(night_api, mid, lambda v: event_types(v).count("fallback_pending") == 2)
    answer = await night_api.post(f"/v1/messages/{mid}/cancel", {})
    assert answer.status in (200, 202), await answer.text()
    night_api.clock.at = local(8, 0, 3)
    view = await waited(night_api, mid, lambda v: v["status"] == "revoked")
    assert "sms_sent" not in event_types(view)


# -- frequency caps at dispatch time: a send that moved after accept is checked where it goes ----

NEVER_DELIVERED = "+8613800001237"  # the sandbox's MaaP accepts it and never delivers: revokes succeed


async def post(api, traffic: str, **extra):
    return await api.post("/v1/messages", {"to": NEVER_DELIVERED, "card": card(), "traffic_type": traffic, **extra})


async def accepted(api, traffic: str, **extra) -> str:
    sent = await post(api, traffic, **extra)
    assert sent.status == 202, await sent.text()
    return (await sent.json())["messages"][0]["id"]


def cap_events(view: dict) -> list[dict]:
    return [e for e in view["events"] if e["detail"] and e["detail"].get("rule") == "frequency_cap"]


# (A's TTL, what moves A after 21:00, B accepted before A moved?, what becomes of A)
MARKETING_MOVES = [
    pytest.param(3 * 86_400, maap_failed, True, "deferred", id="B first, A's TTL long: A waits a day after B"),
    pytest.param(300, ttl_expiry, True, "expired", id="B first, A past its TTL: A expires"),
    pytest.param(3 * 86_400, maap_failed, False, "sent", id="A moved first: B is refused at accept"),
]


@pytest.mark.parametrize("ttl, trigger, b_first, outcome", MARKETING_MOVES)
async def test_marketing_moved_by_the_window_never_makes_two_in_a_day(night_api, ttl, trigger, b_first, outcome):
    """Marketing 1/day. A is accepted at 20:59 on the 2nd and cannot go before 21:00 (its SMS
    fallback falls due at 21:02 or 21:05): the window moves it to 08:00 on the 3rd. B, to the
    same recipient, is for 20:59:30 on the 3rd: allowed at accept against A's 20:59 on the 2nd,
    but 13 hours after A's new time."""
    night_api.clock.at = local(20, 59)
    a = await accepted(night_api, "marketing", ttl=ttl)
    await waited(night_api, a, lambda v: v["status"] == "rcs_sent")
    b_at = local(20, 59, day=3, second=30)
    if b_first:
        night_api.clock.at = local(20, 59, second=10)
        b = await accepted(night_api, "marketing", send_at=stamp(b_at))
    await trigger(night_api, a, local(21, 2) if trigger is maap_failed else local(21, 5))
    if outcome == "expired":
        view = await waited(night_api, a, lambda v: v["status"] == "expired")
        [why] = cap_events(view)
        assert why["type"] == "expired" and why["source"] == "dispatcher"
        assert why["detail"]["reason"] == "frequency_cap" and why["detail"]["cap"] == {"limit": 1, "period": "1d"}
        assert "sms_sent" not in event_types(view)
        return
    if outcome == "deferred":
        view = await waited(night_api, a, lambda v: bool(cap_events(v)))
        [why] = cap_events(view)
        assert why["type"] == "fallback_pending" and why["detail"]["reason"] == "frequency_cap"
        # Not 08:00 on the 3rd, B's day: a whole day after B, inside the window again.
        assert why["detail"]["send_at"] == stamp(local(20, 59, day=4, second=30))
        night_api.clock.at = local(8, 0, day=3, second=3)
        assert await night_api.client.app[DISPATCHER].run_once() == 0  # nothing due: A waits
        night_api.clock.at = b_at
        # (Over RCS, or by SMS at once: A's failure taught the platform the number is not capable.)
        b_view = await waited(night_api, b, lambda v: v["status"] in ("rcs_sent", "sms_delivered"))
        night_api.clock.at = local(20, 59, day=4, second=30)
        view = await waited(night_api, a, lambda v: v["status"] == "sms_delivered")
        [sms] = [e for e in view["events"] if e["type"] == "sms_sent"]
        [b_sent] = [e for e in b_view["events"] if e["type"] in ("rcs_sent", "sms_sent")]
        assert (sms["at"], b_sent["at"]) == (stamp(local(20, 59, day=4, second=30)), stamp(b_at))
        return
    # A moved to 08:00 on the 3rd first, its reservation with it: B is 13 hours from it.
    await waited(night_api, a, lambda v: event_types(v).count("fallback_pending") == 2)
    night_api.clock.at = local(21, 10)
    refused = await post(night_api, "marketing", send_at=stamp(b_at))
    assert refused.status == 429 and (await refused.json())["rule"] == "frequency_cap"
    night_api.clock.at = local(8, 0, day=3, second=3)
    view = await waited(night_api, a, lambda v: v["status"] == "sms_delivered")
    assert not cap_events(view)


async def test_an_otp_fallback_moves_its_reservation_and_a_second_code_waits(night_api):
    """OTP 1/min: the first code's SMS fallback goes 50 s after accept (its TTL revoked); a
    second code at +61 s would reach the phone 11 s after it, and is refused until +110 s. The
    fallback itself broke no cap: it went on time, with no extra event."""
    t0 = night_api.clock.at
    first = await accepted(night_api, "otp", ttl=50)
    await waited(night_api, first, lambda v: v["status"] == "rcs_sent")
    night_api.clock.at = t0 + timedelta(seconds=50)
    view = await waited(night_api, first, lambda v: v["status"] == "sms_delivered")
    [sms] = [e for e in view["events"] if e["type"] == "sms_sent"]
    assert sms["at"] == stamp(t0 + timedelta(seconds=50))
    assert event_types(view).count("fallback_pending") == 1 and "scheduled" not in event_types(view)
    night_api.clock.at = t0 + timedelta(seconds=61)
    refused = await post(night_api, "otp")
    assert refused.status == 429 and refused.headers["Retry-After"] == "49"
    night_api.clock.at = t0 + timedelta(seconds=110)
    assert (await post(night_api, "otp")).status == 202


async def test_an_otp_fallback_due_after_a_second_code_went_expires(night_api):
    """OTP 1/min: a second code accepted at +61 s goes at once (the first counted at its accept);
    the first's SMS fallback, decided at +70 s, would reach the phone 9 s after it: the cap
    would hold it past its TTL, so it expires (reason frequency_cap) instead."""
    t0 = night_api.clock.at
    first = await accepted(night_api, "otp", ttl=70)
    await waited(night_api, first, lambda v: v["status"] == "rcs_sent")
    night_api.clock.at = t0 + timedelta(seconds=61)
    second = await accepted(night_api, "otp")
    await waited(night_api, second, lambda v: v["status"] == "rcs_sent")
    night_api.clock.at = t0 + timedelta(seconds=70)
    view = await waited(night_api, first, lambda v: v["status"] == "expired")
    [why] = cap_events(view)
    assert why["detail"]["cap"] == {"limit": 1, "period": "1m"} and why["detail"]["traffic_type"] == "otp"
    assert "sms_sent" not in event_types(view)
