"""End to end over a tenant's own `rbm` channel (the RBM simulator over real sockets: OAuth
with the agent's service-account key, agentMessages, capabilities, Pub/Sub pushes to the
platform's webhook): what reaches RBM is RBM's own form, a revoke is a DELETE, and a number
the capability check refuses never goes over RCS. (Every sandbox ending over this channel kind
runs in the table of tests/dispatch/test_channel_kinds.py.)"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import card
from tests.dispatch import channel_kinds
from tests.dispatch.conftest import FAST, event_types, wait_for


@pytest.fixture
def database_url():
    return None  # the channel store's paths run on both databases in tests/accounts


@pytest.fixture
def dispatch_settings(dispatch_settings):
    return replace(dispatch_settings, rcs_silence_s=0.3)  # the …7 ending is given up on soon


@pytest.fixture
async def rbm_channel(sandbox_api, dispatch_settings):
    async with channel_kinds.rbm_channel(sandbox_api, dispatch_settings.port, FAST.maap_timing) as sim:
        yield sim


async def test_rbm_takes_its_own_form_revokes_by_delete_and_skips_the_incapable(sandbox_api, rbm_channel):
    numbers = {"+8613800138001": "rcs_read", "+8613800138007": "sms_delivered", "+8613800138010": "sms_delivered"}
    sent = await sandbox_api.post("/v1/messages", {"recipients": [{"to": n} for n in numbers], "card": card()})
    assert sent.status == 202, await sent.text()
    ids = [m["id"] for m in (await sent.json())["messages"]]
    for mid, final in zip(ids, numbers.values()):
        await wait_for(sandbox_api, mid, lambda v, final=final: v["status"] == final)
    taken = {m.number: m for m in rbm_channel.messages.values()}
    card_sent = taken["+8613800138001"].body["contentMessage"]["richCard"]["standaloneCard"]
    assert card_sent["cardContent"]["suggestions"] == [{"reply": {"text": "查看详情", "postbackData": "detail"}}]
    assert taken["+8613800138007"].state == "revoked"
    assert "+8613800138010" not in taken  # the capability check said no: never sent over RCS
    view = await wait_for(sandbox_api, ids[2], lambda v: True)
    assert "rcs_sent" not in event_types(view)
