"""One row list, every RCS channel kind: a card to each sandbox ending, sent over a tenant's own
channel of each kind (the platform's default CN CSP channel on the embedded MaaP simulator,
China Mobile's NetAPI, Google RBM — each on its own simulator over real sockets), ends in the
status DESIGN §4/§13 promise, with an SMS exactly where the ending calls for one."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import replace

import pytest

from tests.conftest import card
from tests.dispatch.channel_kinds import cm_channel, hosted_media_card, rbm_channel
from tests.dispatch.conftest import FAST, event_types, wait_for

# (number, the status a card to it ends in, whether an SMS went, whether it is RCS-capable)
ROWS = [
    ("+8613800138001", "rcs_read", False, True),  # delivered, then read
    ("+8613800138006", "rcs_read", False, True),
    ("+8613800138010", "sms_delivered", True, False),  # not RCS-capable
    ("+8613800138007", "sms_delivered", True, True),  # never delivered: revoked, then SMS
    ("+8613800138008", "rcs_read", False, True),  # two transient refusals, then accepted
    ("+8613800138009", "sms_failed", True, False),  # not capable, and the SMS is undeliverable
    ("+8613800138000", "sms_delivered", True, False),  # not capable, the SMSC throttles twice first
]


def _default(api, port, timing):
    return None  # the platform's default channel: the embedded CN CSP MaaP simulator


def _default_files(api, sim) -> int:
    from server import SANDBOX

    return len(api.client.app[SANDBOX].maap.media)


# kind → (set-up of the tenant's channel, the ids of what its simulator took, how many uploaded
# files its simulator holds)
KINDS = {
    "cn_csp": (_default, None, _default_files),
    "cm_netapi": (cm_channel, lambda sim: set(sim.messages), lambda api, sim: len(sim.files)),
    "rbm": (rbm_channel, lambda sim: {m.message_id for m in sim.messages.values()}, lambda api, sim: len(sim.files)),
}


@pytest.fixture
def database_url():
    return None  # storage runs on both databases elsewhere; this is about the channel kinds


@pytest.fixture
def dispatch_settings(dispatch_settings):
    return replace(dispatch_settings, rcs_silence_s=0.3)  # the …7 ending is given up on soon


@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_sandbox_ending_over_each_channel_kind(sandbox_api, dispatch_settings, kind):
    set_up, took, _ = KINDS[kind]
    async with AsyncExitStack() as stack:
        channel = set_up(sandbox_api, dispatch_settings.port, FAST.maap_timing)
        sim = None if channel is None else await stack.enter_async_context(channel)
        sent = await sandbox_api.post(
            "/v1/messages",
            {"recipients": [{"to": n} for n, *_ in ROWS], "card": card(), "traffic_type": "notification"},
        )
        assert sent.status == 202, await sent.text()
        ids = [m["id"] for m in (await sent.json())["messages"]]
        for mid, (number, final, by_sms, _) in zip(ids, ROWS):
            view = await wait_for(sandbox_api, mid, lambda v, final=final: v["status"] == final, timeout=20)
            assert ("sms_sent" in event_types(view)) is by_sms, (kind, number, event_types(view))
        if took is not None:  # the capable endings went over this kind's interface, not the default's
            assert {mid for mid, row in zip(ids, ROWS) if row[3]} <= took(sim)


@pytest.mark.parametrize("kind", list(KINDS))
async def test_a_card_with_our_media_over_each_channel_kind(sandbox_api, dispatch_settings, kind):
    """The card's image is uploaded to the kind's operator first and the card names that copy:
    it is read over RCS, never sent as SMS (a strict operator refuses media it does not hold)."""
    set_up, took, held = KINDS[kind]
    async with AsyncExitStack() as stack:
        channel = set_up(sandbox_api, dispatch_settings.port, FAST.maap_timing)
        sim = None if channel is None else await stack.enter_async_context(channel)
        doc = await hosted_media_card(sandbox_api)
        sent = await sandbox_api.post("/v1/messages", {"to": "+8613800138001", "card": doc})
        assert sent.status == 202, await sent.text()
        mid = (await sent.json())["messages"][0]["id"]
        view = await wait_for(sandbox_api, mid, lambda v: v["status"] == "rcs_read", timeout=20)
        assert "sms_sent" not in event_types(view)
        assert held(sandbox_api, sim) >= 1  # the operator got the file before the card that shows it
        if took is not None:
            assert mid in took(sim)
