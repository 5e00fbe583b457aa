"""End to end: a tenant's own `rbm` channel points at the RBM simulator (over real sockets:
OAuth with the agent's service-account key, agentMessages, capabilities, Pub/Sub pushes to
the platform's webhook), and a card to each sandbox ending reaches its documented status."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from rcs.rbm_simulator import RbmSimulator
from rcs.simulator import SimulatorTiming
from tests.conftest import card
from tests.dispatch.conftest import dispatch_config, dispatch_settings, event_types, wait_for  # noqa: F401

AGENT = "hongyan_sandbox_agent"
CLIENT_TOKEN = "rbm-client-token-5d1e"

# The table (kept apart from the adapter's set-up, for a harness shared across channel kinds):
# (number, the status a card to it ends in, whether an SMS went).
RBM_ENDINGS = [
    ("+8613800138001", "rcs_read", False),  # DELIVERED, then READ
    ("+8613800138006", "rcs_read", False),
    ("+8613800138010", "sms_delivered", True),  # capability 404: SMS straight away
    ("+8613800138007", "sms_delivered", True),  # never delivered: DELETE revokes it, then SMS
    ("+8613800138008", "rcs_read", False),  # 503 UNAVAILABLE twice, then accepted
    ("+8613800138009", "sms_failed", True),  # not RCS-capable, and the SMS is UNDELIV
    ("+8613800138000", "sms_delivered", True),  # not RCS-capable, the SMSC throttles twice
]


@pytest.fixture
def database_url():
    return None  # the channel store's paths run on both databases in tests/accounts


@pytest.fixture
async def sandbox_api(aiohttp_server, aiohttp_client, dispatch_settings, dispatch_config):  # noqa: F811
    """The sandbox app, re-asking about silent RCS messages soon (the …7 ending)."""
    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    settings = replace(dispatch_settings, rcs_silence_s=0.3)
    app = create_app(settings, Wiring(dispatch=dispatch_config, webhook_options={"allow_http": True}))
    server = await aiohttp_server(app, port=settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Test brand", signature="【鸿雁测试】")
    return await ApiClient(client, tenant.id, key).without_send_rules()


@pytest.fixture
async def rbm_channel(sandbox_api, dispatch_settings):  # noqa: F811
    """The tenant's `rbm` channel on a running RBM simulator."""
    sim = RbmSimulator(timing=SimulatorTiming(delivery_delay_s=0.05, display_delay_s=0.05))
    await sim.start()
    webhook = f"http://127.0.0.1:{dispatch_settings.port}/rcs/rbm/{AGENT}"
    account = sim.add_agent(AGENT, client_token=CLIENT_TOKEN, webhook_url=webhook)
    made = await sandbox_api.post(
        "/v1/channels",
        {
            "operator": "rbm",
            "server_root": f"http://{sim.root}",
            "chatbot_id": f"sip:{AGENT}@rbm.goog",
            "app_id": account["client_email"],
            "app_key": orjson.dumps(account).decode(),
            "callback_token": CLIENT_TOKEN,
        },
    )
    assert made.status == 201, await made.text()
    yield sim
    await sim.stop()


async def test_a_card_to_each_sandbox_ending_reaches_its_status(sandbox_api, rbm_channel):
    sent = await sandbox_api.post(
        "/v1/messages", {"recipients": [{"to": n} for n, _, _ in RBM_ENDINGS], "card": card()}
    )
    assert sent.status == 202, await sent.text()
    ids = [m["id"] for m in (await sent.json())["messages"]]
    for mid, (number, final, by_sms) in zip(ids, RBM_ENDINGS):
        view = await wait_for(sandbox_api, mid, lambda v, final=final: v["status"] == final)
        assert ("sms_sent" in event_types(view)) is by_sms, (number, event_types(view))
    # What the simulator took is RBM's own form, and it reached RBM only through OAuth.
    taken = {m.number: m for m in rbm_channel.messages.values()}
    card_sent = taken["+8613800138001"].body["contentMessage"]["richCard"]["standaloneCard"]
    assert card_sent["cardContent"]["suggestions"] == [{"reply": {"text": "查看详情", "postbackData": "detail"}}]
    assert taken["+8613800138007"].state == "revoked"
    assert "+8613800138010" not in taken  # the capability check said no: never sent over RCS
