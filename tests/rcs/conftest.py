"""A platform-side callback receiver and a simulator wired to it, over real loopback sockets."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from api.problems import Problem, problem_response
from rcs import CallbackEndpoints, CnCspMaap, MaapSimulator, SimulatorTiming

CALLBACK_TOKEN = "test-callback-token"
APP_ID = "test-app"
FAST = SimulatorTiming(
    delivery_delay_s=0.01, display_delay_s=0.01, revoke_delay_s=0.01, not_capable_delay_s=0.01
)


@web.middleware
async def problems(request, handler):
    try:
        return await handler(request)
    except Problem as p:
        return problem_response(p)


@dataclass
class Receiver:
    """What the platform's inbound endpoints received."""

    url: str
    endpoints: CallbackEndpoints
    statuses: asyncio.Queue = field(default_factory=asyncio.Queue)
    users: asyncio.Queue = field(default_factory=asyncio.Queue)

    async def status(self, message_id: str, status: str, timeout: float = 5.0):
        """Wait (deadline, not a sleep) for `status` of `message_id`; returns the event and
        every event of that message seen before it."""
        seen = []

        async def pull():
            while True:
                chatbot, ev = await self.statuses.get()
                if ev.message_id == message_id:
                    seen.append(ev)
                    if ev.status == status:
                        return ev

        ev = await asyncio.wait_for(pull(), timeout)
        return ev, seen

    async def user(self, timeout: float = 5.0):
        return await asyncio.wait_for(self.users.get(), timeout)


@pytest.fixture
async def receiver(aiohttp_server):
    statuses: asyncio.Queue = asyncio.Queue()
    users: asyncio.Queue = asyncio.Queue()

    async def on_delivery(chatbot_id, events):
        for e in events:
            statuses.put_nowait((chatbot_id, e))

    async def on_user(chatbot_id, event):
        users.put_nowait((chatbot_id, event))

    endpoints = CallbackEndpoints(
        callback_token=CALLBACK_TOKEN, app_id=APP_ID, on_delivery=on_delivery, on_user=on_user
    )
    app = web.Application(middlewares=[problems])
    app.add_routes(endpoints.routes("/rcs"))
    server = await aiohttp_server(app)
    return Receiver(str(server.make_url("/rcs")), endpoints, statuses, users)


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
