"""A platform-side callback receiver and a simulator wired to it, over real loopback sockets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web

from api.middleware import problem_middleware
from rcs.callbacks import CallbackEndpoints
from rcs.operators import CnCspMaap
from rcs.simulator import MaapSimulator, SimulatorTiming

CALLBACK_TOKEN = "test-callback-token"
APP_ID = "test-app"
FAST = SimulatorTiming(delivery_delay_s=0.01, display_delay_s=0.01, revoke_delay_s=0.01, not_capable_delay_s=0.01)


@dataclass
class Receiver:
    """What the platform's inbound endpoints received."""

    url: str
    endpoints: CallbackEndpoints
    statuses: list = field(default_factory=list)  # (chatbot_id, DeliveryEvent) in arrival order
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    batch_sizes: list = field(default_factory=list)  # statuses per deliveryNotification request
    users: asyncio.Queue = field(default_factory=asyncio.Queue)
    notices: asyncio.Queue = field(default_factory=asyncio.Queue)
    bodies: list = field(default_factory=list)  # (raw path, JSON body) of every callback POST

    async def status(self, message_id: str, status: str, timeout: float = 5.0):
        """Wait (with a deadline, never a sleep) for `status` of `message_id`; returns that
        event and every event of the message received up to it."""

        async def until_seen():
            while True:
                seen = [e for _, e in self.statuses if e.message_id == message_id]
                for i, e in enumerate(seen):
                    if e.status == status:
                        return e, seen[: i + 1]
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(until_seen(), timeout)

    async def user(self, timeout: float = 5.0):
        return await asyncio.wait_for(self.users.get(), timeout)

    async def notice(self, timeout: float = 5.0):
        return await asyncio.wait_for(self.notices.get(), timeout)

    def last_body(self, path_end: str) -> dict:
        """The JSON body of the newest callback whose path ends with `path_end`."""
        return next(body for path, body in reversed(self.bodies) if path.endswith(path_end))


@pytest.fixture
async def receiver(aiohttp_server):
    received = Receiver("", None)  # type: ignore[arg-type]

    async def on_delivery(chatbot_id, events):
        received.statuses.extend((chatbot_id, e) for e in events)
        received.batch_sizes.append(len(events))
        received.changed.set()

    async def on_user(chatbot_id, event):
        received.users.put_nowait((chatbot_id, event))

    async def on_notice(chatbot_id, notice):
        received.notices.put_nowait((chatbot_id, notice))

    @web.middleware
    async def record(request, handler):
        if request.method == "POST":
            received.bodies.append((request.raw_path, orjson.loads(await request.read())))
        return await handler(request)

    received.endpoints = CallbackEndpoints(
        callback_token=CALLBACK_TOKEN, app_id=APP_ID, on_delivery=on_delivery, on_user=on_user, on_notice=on_notice
    )
    app = web.Application(middlewares=[record, problem_middleware])
    app.add_routes(received.endpoints.routes("/rcs"))
    server = await aiohttp_server(app)
    received.url = str(server.make_url("/rcs"))
    return received


@pytest.fixture
async def simulator(receiver):
    sim = MaapSimulator("127.0.0.1", 0, receiver.url, CALLBACK_TOKEN, timing=FAST)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def client(simulator):
    maap = CnCspMaap(simulator.client_settings())
    yield maap
    await maap.close()


CM_CHATBOT = "sip:12520020000120@botplatform.rcs.chinamobile.com"


@pytest.fixture
async def cm_sim():
    """A China Mobile MaaP simulator holding the chatbot CM_CHATBOT (app "app", token "tok")."""
    from rcs.cm_simulator import CmNetApiSimulator
    from rcs.simulator import SimulatorTiming

    timing = SimulatorTiming(delivery_delay_s=0.01, display_delay_s=0.01, revoke_delay_s=0.01)
    async with CmNetApiSimulator(timing=timing) as simulator:
        simulator.add_chatbot(CM_CHATBOT, "app", "tok", "cb")
        yield simulator


def cm_client(cm_sim, **kw):
    """A China Mobile client of `cm_sim`'s chatbot (settings overridable)."""
    from rcs.operators.cm_netapi import CmNetApiMaap

    config = {"server_root": cm_sim.server_root, "chatbot_id": CM_CHATBOT, "app_id": "app", "app_key": "tok"}
    return CmNetApiMaap.from_config({**config, "scheme": "http", **kw})
