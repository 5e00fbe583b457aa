"""A brand's own China Mobile (`cm`) channel through the whole platform: the channel points at
the China Mobile MaaP simulator (rcs.cm_simulator, OMA NetAPI XML over a real socket), and a
card to each sandbox ending ends in the status DESIGN §4/§13 promise; a tap on a delivered
card reaches the brand's conversation as its postback.

`ROWS` is the table (ending → expected statuses), kept apart from the adapter setup so it can
be shared by every channel kind."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from rcs.cm_simulator import CmNetApiSimulator
from tests.conftest import card
from tests.dispatch.conftest import FAST, event_types, has_event, wait_for
from tests.dispatch.test_webhooks import receiver, wait_events

# (number, final status, events the message must have shown on the way)
ROWS = [
    ("+8613800138001", "rcs_read", ["rcs_sent", "rcs_delivered", "rcs_read"]),
    ("+8613800138010", "sms_delivered", ["rcs_sent", "fallback_pending", "sms_sent"]),
    ("+8613800138007", "sms_delivered", ["rcs_sent", "fallback_pending", "sms_sent"]),  # revoked, then SMS
    ("+8613800138008", "rcs_read", ["rcs_sent", "rcs_delivered", "rcs_read"]),  # two 503s, then accepted
    ("+8613800138009", "sms_failed", ["rcs_sent", "fallback_pending", "sms_sent"]),
    ("+8613800138100", "sms_delivered", ["rcs_sent", "fallback_pending", "sms_sent"]),  # SMSC throttles first
]
FINAL = {"rcs_read", "sms_delivered", "sms_failed"}

CHATBOT = "sip:12520020000120@botplatform.rcs.chinamobile.com"
APP_ID, TOKEN, CALLBACK_TOKEN = "iap_12520020000120", "cm-token-4f95d151", "cm-callback-7a1e"


@pytest.fixture
def database_url():
    return None  # storage runs on both databases elsewhere; this is about the channel kind


@pytest.fixture
async def cm_channel(aiohttp_server, aiohttp_client, dispatch_settings):
    """The app (sandbox), the China Mobile simulator calling it back, and a tenant whose active
    channel is a `cm` one pointing at the simulator."""
    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    sim = CmNetApiSimulator(callback_base_url=f"http://127.0.0.1:{dispatch_settings.port}/rcs", timing=FAST.maap_timing)
    sim.add_chatbot(CHATBOT, APP_ID, TOKEN, CALLBACK_TOKEN)
    await sim.start()
    settings = replace(dispatch_settings, rcs_silence_s=0.3)  # the …7 ending is revoked soon
    app = create_app(settings, Wiring(dispatch=FAST, webhook_options={"allow_http": True}))
    server = await aiohttp_server(app, port=settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("China Mobile brand", signature="【移动测试】")
    api = await ApiClient(client, tenant.id, key).without_send_rules()
    made = await api.post(
        "/v1/channels",
        {
            "operator": "cm",
            "server_root": f"http://{sim.server_root}",
            "chatbot_id": CHATBOT,
            "app_id": APP_ID,
            "app_key": TOKEN,
            "callback_token": CALLBACK_TOKEN,
        },
    )
    assert made.status == 201, await made.text()
    yield api, sim
    await sim.stop()


@pytest.mark.parametrize(("number", "final", "shown"), ROWS, ids=[r[0][-3:] for r in ROWS])
async def test_each_ending_over_a_cm_channel(cm_channel, number, final, shown):
    api, sim = cm_channel
    sent = await api.post("/v1/messages", {"to": number, "card": card(), "traffic_type": "notification"})
    assert sent.status == 202, await sent.text()
    mid = (await sent.json())["messages"][0]["id"]
    view = await wait_for(api, mid, lambda v: v["status"] in FINAL and v["status"] == final, timeout=15)
    types = event_types(view)
    assert all(t in types for t in shown), types
    assert sim.messages  # it went over the China Mobile interface, not the default channel
    assert not sim.refusals or number.endswith("8"), sim.refusals  # only …8's two 503s


async def test_a_tap_reaches_the_brand_as_its_postback(cm_channel, aiohttp_server):
    api, sim = cm_channel
    url, got, arrived = await receiver(aiohttp_server)
    assert (await api.post("/v1/webhooks", {"url": url, "events": ["message.user_event"]})).status == 201
    sent = await api.post("/v1/messages", {"to": "+8613800138002", "card": card(), "traffic_type": "notification"})
    mid = (await sent.json())["messages"][0]["id"]
    await wait_for(api, mid, has_event("rcs_delivered"))
    (sim_message,) = sim.messages.values()
    assert sim_message.message_id == mid  # our id, echoed by the MaaP
    assert await sim.tap(mid, 0)
    await wait_events(got, arrived, lambda events: len(events) >= 1)
    event = orjson.loads(got[0][0])
    assert event["type"] == "message.user_event" and event["data"]["message_id"] == mid
    assert event["data"]["event"]["kind"] == "suggestion_response"
    assert event["data"]["event"]["postback"] == "detail"
