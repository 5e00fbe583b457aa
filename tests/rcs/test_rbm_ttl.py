"""A message's TTL becomes RBM's own expiry (AgentMessage `expireTime`, RBM reference: "Timestamp
in UTC of when this resource is considered expired"), and the simulator, like RBM, revokes an
undelivered message itself when it passes (event TTL_EXPIRATION_REVOKED)."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime

import orjson
import pytest
from aiohttp import web

from rcs.maap import OutboundMessage, text_parts
from rcs.operators.rbm import RbmChannel, agent_message
from rcs.rbm_simulator import RbmSimulator
from rcs.simulator import SimulatorTiming

AGENT = "test_agent_01"
AT = int(datetime(2026, 12, 5, 4, 30, 0, 250_000, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("extra", "expires_ms", "want"),
    [
        ({}, AT, {"expireTime": "2026-12-05T04:30:00.250Z"}),
        ({"ttl": 60}, AT, {"ttl": "60s"}),  # an explicit RBM ttl wins
        ({}, None, {}),
    ],
)
def test_the_messages_ttl_is_rbms_expire_time(extra, expires_ms, want):
    body = agent_message(
        OutboundMessage("m", "+8613800138001", text_parts("hi"), "c", "m", extra=extra, expires_ms=expires_ms)
    )
    assert {k: body[k] for k in ("ttl", "expireTime") if k in body} == want


async def test_simulator_revokes_an_undelivered_message_when_its_ttl_passes(aiohttp_server):
    events: list[dict] = []
    arrived = asyncio.Event()

    async def webhook(request: web.Request) -> web.Response:
        envelope = await request.json()
        events.append(orjson.loads(base64.b64decode(envelope["message"]["data"])))
        arrived.set()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", webhook)
    server = await aiohttp_server(app)
    sim = RbmSimulator(timing=SimulatorTiming(delivery_delay_s=5, display_delay_s=5))
    await sim.start()
    account = sim.add_agent(AGENT, client_token="t", webhook_url=f"http://127.0.0.1:{server.port}/hook")
    config = {"server_root": sim.root, "scheme": "http", "agent_id": AGENT, "app_key": orjson.dumps(account).decode()}
    channel = RbmChannel.from_config(config)
    try:
        never = OutboundMessage("m7", "+8613800138007", text_parts("hi"), "c", "m7", extra={"ttl": "0.05s"})
        assert (await channel.send(never)).accepted
        await asyncio.wait_for(arrived.wait(), timeout=5)
        assert events[0]["eventType"] == "TTL_EXPIRATION_REVOKED" and events[0]["messageId"] == "m7"
        assert sim.messages[(AGENT, "m7")].state == "revoked"
    finally:
        await channel.close()
        await sim.stop()
