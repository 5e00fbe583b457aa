"""A brand's own China Mobile (`cm`) channel through the whole platform: a tap on a delivered
card reaches the brand as its postback. (Every sandbox ending over this channel kind runs in
the table of tests/dispatch/test_channel_kinds.py.)"""

from __future__ import annotations

import orjson
import pytest

from tests.conftest import card
from tests.dispatch import channel_kinds
from tests.dispatch.conftest import FAST, has_event, wait_for
from tests.dispatch.test_webhooks import receiver, wait_events


@pytest.fixture
def database_url():
    return None  # storage runs on both databases elsewhere; this is about the channel kind


@pytest.fixture
async def cm_channel(sandbox_api, dispatch_settings):
    """The sandbox app and a tenant whose active channel is a `cm` one on the China Mobile
    simulator (which calls the app back)."""
    async with channel_kinds.cm_channel(sandbox_api, dispatch_settings.port, FAST.maap_timing) as sim:
        yield sandbox_api, sim


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
