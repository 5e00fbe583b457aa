"""Send windows re-checked at dispatch time: a marketing message accepted inside its window whose
SMS fallback or late-claimed send falls due after 21:00 waits for 08:00, never goes out at
night, and never reaches the recipient twice (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
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
