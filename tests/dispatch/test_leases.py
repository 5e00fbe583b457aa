"""A dispatcher keeps the leases of what it still works on: a send slower than the lease is not
claimed again (by this process or another) and sent a second time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from server import SANDBOX
from tests.dispatch.conftest import FAST, event_types, has_event, wait_for

LEASE_S = 0.4


@pytest.fixture
def dispatch_config():
    # Every MaaP answer takes three leases' time: without renewal the claim lapses mid-send.
    return replace(
        FAST,
        maap_timing=replace(FAST.maap_timing, latency_s=3 * LEASE_S),
        options=replace(FAST.options, lease_s=LEASE_S),
    )


async def test_a_send_slower_than_the_lease_goes_once(sandbox_api):
    resp = await sandbox_api.post("/v1/messages", json={"to": "+8613800000011", "text": "您的验证码是 4721"})
    assert resp.status == 202
    message_id = (await resp.json())["messages"][0]["id"]
    view = await wait_for(sandbox_api, message_id, has_event("rcs_delivered"), timeout=30)
    maap = sandbox_api.client.server.app[SANDBOX].maap
    assert maap.repeated_sends == {}
    assert event_types(view).count("rcs_sent") == 1
