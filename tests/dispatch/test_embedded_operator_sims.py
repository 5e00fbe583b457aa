"""The all-in-one sandbox runs China Mobile's and Google RBM's simulators too: a brand creates a
`cm` or an `rbm` channel whose server root is the embedded simulator's address (pinned with
`cm_port` / `rbm_port`, printed at start), and its cards go there — the sandbox endings as on the
CN MaaP, callbacks reaching the platform's /rcs routes signed with the channel's callback token."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import aiohttp
import orjson
import pytest

from rcs import cm_simulator
from tests.conftest import card
from tests.dispatch.conftest import event_types, wait_for

CM_CHATBOT = "sip:12520020000999@botplatform.rcs.chinamobile.com"
RBM_AGENT = "brand_sandbox_agent"


@pytest.fixture
def database_url():
    return None  # storage runs on both databases elsewhere; this is about the embedded simulators


@pytest.fixture
def dispatch_settings(dispatch_settings, unused_tcp_port_factory):
    return replace(dispatch_settings, cm_port=unused_tcp_port_factory(), rbm_port=unused_tcp_port_factory())


ROOT = Path(__file__).resolve().parents[2]
ROWS = [("+8613800138001", "rcs_read", False), ("+8613800138010", "sms_delivered", True)]


async def _key(root: str, **params: str) -> dict:
    """The sandbox's stand-in for the Google Cloud console: a service-account key for the agent."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{root}/sandbox/serviceAccountKey", params={"agentId": RBM_AGENT, **params}) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()


async def _send_rows(api) -> None:
    """A card to a …1 number ends read over RCS, to a …0 number delivered by SMS."""
    sent = await api.post(
        "/v1/messages",
        {"recipients": [{"to": n} for n, *_ in ROWS], "card": card(), "traffic_type": "notification"},
    )
    assert sent.status == 202, await sent.text()
    for message, (number, final, by_sms) in zip((await sent.json())["messages"], ROWS):
        view = await wait_for(api, message["id"], lambda v, final=final: v["status"] == final, timeout=20)
        assert ("sms_sent" in event_types(view)) is by_sms, (number, event_types(view))
        if not by_sms:
            assert {"rcs_delivered", "rcs_read"} <= set(event_types(view))


async def _cm_channel(api, settings) -> dict:
    return {
        "operator": "cm",
        "server_root": f"http://127.0.0.1:{settings.cm_port}",
        "chatbot_id": CM_CHATBOT,
        "app_id": "iap_12520020000999",
        "app_key": "brand-token-1",
        "callback_token": "brand-callback-1",
    }


async def _rbm_channel(api, settings) -> dict:
    root = f"http://127.0.0.1:{settings.rbm_port}"
    key = await _key(root)
    return {
        "operator": "rbm",
        "server_root": root,
        "chatbot_id": f"sip:{RBM_AGENT}@rbm.goog",
        "app_id": key["client_email"],
        "app_key": orjson.dumps(key).decode(),
        "callback_token": "brand-client-token-1",
    }


def _took(sandbox) -> dict[str, set[str]]:
    """The numbers each embedded operator simulator took an RCS message to."""
    return {
        "cm": {m.number for m in sandbox.cm.messages.values()},
        "rbm": {m.number for m in sandbox.rbm.messages.values()},
    }


@pytest.mark.parametrize(("kind", "make_channel"), [("cm", _cm_channel), ("rbm", _rbm_channel)])
async def test_a_channel_on_the_embedded_simulator(sandbox_api, dispatch_settings, kind, make_channel):
    from server import SANDBOX

    made = await sandbox_api.post("/v1/channels", await make_channel(sandbox_api, dispatch_settings))
    assert made.status == 201, await made.text()
    await _send_rows(sandbox_api)
    # The capable number went over the brand's channel, to this kind's simulator.
    assert _took(sandbox_api.client.server.app[SANDBOX])[kind] >= {"+8613800138001"}


@pytest.fixture
async def simulators_role(dispatch_settings, tmp_path):
    """`server.py simulators` as its own process calling back the app's port; where it listens."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "server.py",
        "simulators",
        *("--port", str(dispatch_settings.port), "--data-dir", str(tmp_path / "sims")),
        *("--delivery-delay", "0.05", "--display-delay", "0.05", "--receipt-delay", "0.05"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "HONGYAN_LOG_LEVEL": "WARNING"},
    )
    try:
        assert proc.stdout is not None
        where = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60) or b"null")
        assert where, "the simulators process printed no address line"
        yield where
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.parametrize("kind", ["cm", "rbm"])
async def test_a_channel_on_the_simulators_role(sandbox_api, simulators_role, kind):
    """The `simulators` process runs China Mobile's simulator with its public sandbox chatbot
    and RBM's, whose agents are onboarded by asking for a key with a client token."""
    if kind == "cm":
        channel = {
            "operator": "cm",
            "server_root": simulators_role["cm_url"],
            "chatbot_id": cm_simulator.SANDBOX_CHATBOT_URI,
            "app_id": cm_simulator.SANDBOX_APP_ID,
            "app_key": cm_simulator.SANDBOX_TOKEN,
            "callback_token": cm_simulator.SANDBOX_CALLBACK_TOKEN,
        }
    else:
        key = await _key(simulators_role["rbm_url"], clientToken="brand-client-token-2")
        channel = {
            "operator": "rbm",
            "server_root": simulators_role["rbm_url"],
            "chatbot_id": f"sip:{RBM_AGENT}@rbm.goog",
            "app_id": key["client_email"],
            "app_key": orjson.dumps(key).decode(),
            "callback_token": "brand-client-token-2",
        }
    made = await sandbox_api.post("/v1/channels", channel)
    assert made.status == 201, await made.text()
    await _send_rows(sandbox_api)


async def test_channels_are_provisioned_again_after_a_restart(aiohttp_server, aiohttp_client, dispatch_settings):
    """The operator simulators keep nothing: at start they get the stored `cm` / `rbm` channels."""
    from server import ACCOUNTS, SANDBOX, Wiring, create_app
    from tests.conftest import ApiClient
    from tests.dispatch.conftest import FAST

    async def start():
        app = create_app(dispatch_settings, Wiring(dispatch=FAST))
        server = await aiohttp_server(app, port=dispatch_settings.port)
        return server, await aiohttp_client(server)

    server, client = await start()
    tenant, key = await client.app[ACCOUNTS].create_tenant("Restart brand")
    api = await ApiClient(client, tenant.id, key).without_send_rules()
    rbm = {**await _rbm_channel(api, dispatch_settings), "status": "disabled"}
    for body in (await _cm_channel(api, dispatch_settings), rbm):
        made = await api.post("/v1/channels", body)
        assert made.status == 201, await made.text()
    await server.close()

    server, client = await start()
    api = ApiClient(client, tenant.id, key)
    sandbox = client.app[SANDBOX]
    assert CM_CHATBOT in sandbox.cm.chatbots
    assert sandbox.rbm.agents[RBM_AGENT].webhook_url == f"http://127.0.0.1:{dispatch_settings.port}/rcs/rbm/{RBM_AGENT}"
    await _send_rows(api)
    assert "+8613800138001" in _took(sandbox)["cm"]
