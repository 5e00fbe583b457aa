"""Accepted messages travel end to end through the sandbox simulators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import card
from tests.dispatch.conftest import event_types, wait_for

PHONE = (
    "Mozilla/5.0 (Linux; Android 13; V2227A) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/108.0.0.0 Mobile Safari/537.36"
)


async def send(api, to: str, **extra) -> str:
    got = await api.post("/v1/messages", json={"to": to, "card": card(), **extra})
    assert got.status == 202, await got.text()
    return (await got.json())["messages"][0]["id"]


async def test_rcs_capable_number_is_delivered_then_read(sandbox_api):
    mid = await send(sandbox_api, "+8613800001231")
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_read")
    assert event_types(view) == ["accepted", "queued", "rcs_sent", "rcs_delivered", "rcs_read"]
    assert "short_link" not in view


async def test_not_capable_number_falls_back_to_sms_with_a_short_link(sandbox_api):
    mid = await send(sandbox_api, "+8613800001230")
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == "sms_delivered")
    types = event_types(view)
    # The CN interface has no capability query: the operator answers the send `failed` (code 2)…
    assert types == ["accepted", "queued", "rcs_sent", "fallback_pending", "sms_sent", "sms_delivered"]
    failed = next(e for e in view["events"] if e["type"] == "fallback_pending")
    assert failed["detail"]["error_code"] == 2
    # …and the platform remembers: the next message to that number goes straight to SMS.
    again = await send(sandbox_api, "+8613800001230")
    view = await wait_for(sandbox_api, again, lambda v: v["status"] == "sms_delivered")
    assert event_types(view) == ["accepted", "queued", "fallback_pending", "sms_sent", "sms_delivered"]
    sent = next(e for e in view["events"] if e["type"] == "sms_sent")
    assert sent["detail"]["route"] == "sandbox" and sent["detail"]["segments"] >= 1
    assert sent["detail"]["encoding"] in ("GSM-7", "UCS-2", "gsm7", "ucs2")
    link = view["short_link"]
    assert link.startswith("http://") and "/s/" in link and not link.endswith("/")
    page = await sandbox_api.client.get("/s/" + link.rsplit("/s/", 1)[1], headers={"User-Agent": PHONE})
    assert page.status == 200
    assert "您的账单已出" in await page.text()
    delivered = next(e for e in view["events"] if e["type"] == "sms_delivered")
    assert [p["stat"] for p in delivered["detail"]["parts"]] == ["DELIVRD"] * sent["detail"]["segments"]


async def test_undeliverable_sms_fails_with_the_receipts_reason(sandbox_api):
    mid = await send(sandbox_api, "+8613800001239")
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == "sms_failed")
    failed = view["events"][-1]
    assert failed["type"] == "sms_failed" and failed["detail"]["reason"].startswith("UNDELIV")
    # The roll-up fails on the first undelivered part; every part's SMSC id is listed.
    parts = failed["detail"]["parts"]
    assert "UNDELIV" in [p["stat"] for p in parts] and all(p["id"] for p in parts)


class ShiftedClock:
    """The wall clock, moved forward by the test (a TTL runs out when the test says so, not
    when a loaded machine happens to be slow)."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift


@pytest.fixture
async def shifted_api(aiohttp_server, aiohttp_client, dispatch_settings, dispatch_config):
    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    clock = ShiftedClock()
    app = create_app(dispatch_settings, Wiring(clock=clock, dispatch=dispatch_config))
    server = await aiohttp_server(app, port=dispatch_settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Test brand", signature="【鸿雁测试】")
    api = await ApiClient(client, tenant.id, key).without_send_rules()
    return api, clock


async def test_ttl_expiry_revokes_first_then_sends_the_sms(shifted_api):
    api, clock = shifted_api
    mid = await send(api, "+8613800001237", ttl=60)  # …7: sent, never delivered
    await wait_for(api, mid, lambda v: v["status"] == "rcs_sent")
    clock.shift = timedelta(seconds=61)
    view = await wait_for(api, mid, lambda v: v["status"] == "sms_delivered", timeout=30.0)
    types = event_types(view)
    assert types == ["accepted", "queued", "rcs_sent", "revoked", "fallback_pending", "sms_sent", "sms_delivered"]
    assert "rcs_delivered" not in types


async def test_transient_maap_errors_are_retried(sandbox_api):
    mid = await send(sandbox_api, "+8613800001238")
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_read")
    retries = [e for e in view["events"] if e["type"] == "queued" and e["detail"].get("error")]
    assert [r["detail"]["attempt"] for r in retries] == [1, 2]
    assert all(r["detail"]["error"] == "HTTP 503 errorCode -1" for r in retries)
    sent = next(e for e in view["events"] if e["type"] == "rcs_sent")
    assert sent["detail"]["attempts"] == 3


async def test_send_at_is_honoured(sandbox_api):
    send_at = datetime.now(UTC) + timedelta(seconds=1)
    mid = await send(sandbox_api, "+8613800001232", send_at=send_at.isoformat().replace("+00:00", "Z"))
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_delivered" or v["status"] == "rcs_read")
    assert event_types(view)[:3] == ["accepted", "scheduled", "queued"]
    queued = next(e for e in view["events"] if e["type"] == "queued")
    assert datetime.fromisoformat(queued["at"].replace("Z", "+00:00")) >= send_at - timedelta(milliseconds=5)


async def test_a_location_without_rcs_falls_back_to_an_sms_whose_page_shows_the_place(sandbox_api):
    place = {"latitude": 31.2304, "longitude": 121.4737, "label": "人民广场"}
    sent = await sandbox_api.post("/v1/messages", json={"to": "+8613800001250", "location": place})
    assert sent.status == 202, await sent.text()
    mid = (await sent.json())["messages"][0]["id"]
    view = await wait_for(sandbox_api, mid, lambda v: v["status"] == "sms_delivered")
    token = view["short_link"].rsplit("/s/", 1)[1]
    page = await sandbox_api.client.get(f"/s/{token}", headers={"User-Agent": PHONE})
    assert page.status == 200 and "人民广场" in await page.text()
    place_page = await sandbox_api.client.get(f"/s/{token}/place", headers={"User-Agent": PHONE})
    assert "https://uri.amap.com/marker" in await place_page.text()


@pytest.mark.parametrize(
    "body,path",
    [
        ({"file": {"media_id": "nope"}}, "/file/media_id"),
        ({"file": {"media_id": 7}}, "/file/media_id"),
        ({"file": {"media_id": "x", "colour": "red"}}, "/file/colour"),
        ({"file": "x"}, "/file"),
        ({"location": {"latitude": 95, "longitude": 121.4}}, "/location/latitude"),
        ({"location": {"latitude": 31.2, "longitude": 121.4, "label": ""}}, "/location/label"),
        ({"location": {"latitude": 31.2, "longitude": 121.4, "floor": 3}}, "/location/floor"),
        ({"location": {"latitude": 31.2, "longitude": 121.4}, "text": "hi"}, "/text"),
        ({"location": [31.2, 121.4]}, "/location"),
    ],
)
async def test_bad_file_and_location_requests_name_the_field(sandbox_api, body, path):
    resp = await sandbox_api.post("/v1/messages", json={"to": "+8613800001231", **body})
    assert resp.status == 422, await resp.text()
    problem = await resp.json()
    assert path in [e["path"] for e in problem["errors"]], problem
