"""The RBM simulator's onboarding, the sandbox's stand-in for the Google Cloud console: it hands
out service-account keys, and registers an agent from a key it did not keep (a channel's)."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from rcs.maap import OutboundMessage, card_parts
from rcs.operators.rbm import RbmChannel
from rcs.rbm_simulator import RbmSimulator
from tests.conftest import card

AGENT = "onboarded_agent"


@pytest.fixture
async def sim():
    async with RbmSimulator(webhook_base="http://127.0.0.1:9/rcs/rbm") as simulator:
        yield simulator


async def _issue(sim: RbmSimulator, **params: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://{sim.root}/sandbox/serviceAccountKey", params=params) as resp:
            return resp.status, await resp.json()


def _channel(sim: RbmSimulator, key: dict) -> RbmChannel:
    return RbmChannel.from_config(
        {
            "server_root": sim.root,
            "scheme": "http",
            "chatbot_id": f"sip:{AGENT}@rbm.goog",
            "app_id": key["client_email"],
            "app_key": orjson.dumps(key).decode(),
        }
    )


@pytest.mark.parametrize("agent_id", ["", "has space", "x" * 65, "ünïcode"])
async def test_a_key_for_a_malformed_agent_id_is_refused(sim, agent_id):
    status, body = await _issue(sim, agentId=agent_id)
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    "expected",
    [{}, {"clientToken": "ct-1"}],
    ids=["without a client token nothing is registered", "with one the agent pushes to the webhook base"],
)
async def test_an_issued_key(sim, expected):
    status, key = await _issue(sim, agentId=AGENT, **expected)
    assert status == 200
    assert {"type": "service_account", "token_uri": sim.token_uri}.items() <= key.items()
    assert "BEGIN PRIVATE KEY" in key["private_key"]
    if expected:
        agent = sim.agents[AGENT]
        assert (agent.client_token, agent.webhook_url) == ("ct-1", f"http://127.0.0.1:9/rcs/rbm/{AGENT}")
    else:
        assert AGENT not in sim.agents


async def test_an_agent_registered_from_a_stored_key_gets_tokens_and_sends(sim):
    _, key = await _issue(sim, agentId=AGENT)
    sim.add_agent_key(AGENT, key, client_token="ct-2")
    channel = _channel(sim, key)
    try:
        sent = await channel.send(OutboundMessage("m1", "+8613800138001", card_parts(card()), "conv", "m1"))
        assert sent.accepted
    finally:
        await channel.close()


async def test_a_key_the_simulator_did_not_register_gets_no_token(sim):
    _, key = await _issue(sim, agentId=AGENT)  # issued, never registered
    channel = _channel(sim, key)
    try:
        sent = await channel.send(OutboundMessage("m1", "+8613800138001", card_parts(card()), "conv", "m1"))
        assert not sent.accepted
    finally:
        await channel.close()
