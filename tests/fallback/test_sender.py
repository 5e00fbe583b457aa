"""SmsSender: routing real SMPP binds to simulators, with failover when a route dies."""

from __future__ import annotations

import asyncio
import functools

import pytest

from fallback.client import SmppClient, SmppError
from fallback.route import NoRouteAvailable
from fallback.routing import CarrierRouter, CarrierRoutes, HealthPolicy, RouterConfig, RouteSettings
from fallback.sender import SmsSender
from fallback.smsc import SmscSimulator

DEADLINE = 5.0


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
async def setup():
    sims = {name: SmscSimulator(receipt_delay=0.02) for name in ("cm-a", "cm-b")}
    for sim in sims.values():
        await sim.start()
    clock = FakeClock()
    router = CarrierRouter(
        RouterConfig(
            # A submit in doubt (the SMSC died with it on the wire) is a transient failure that
            # fails over; test_in_doubt_policy covers "report".
            routes=(RouteSettings("cm-a", 1000, in_doubt="resend"), RouteSettings("cm-b", 1000, in_doubt="resend")),
            carriers={"china_mobile": CarrierRoutes("cm-a", "cm-b"), "default": CarrierRoutes("cm-b")},
            health=HealthPolicy(min_samples=2, cooldown_seconds=30),
        ),
        clock=clock,
    )
    # Each route's throttle responses slow that route in the router (as server.py wires them).
    clients = {
        name: SmppClient(
            "127.0.0.1",
            sim.port,
            "hongyan",
            "pw",
            submit_timeout=0.2,
            reconnect_delay=0.02,
            throttle_delay=0.01,
            on_throttle=functools.partial(router.record_throttled, name),
        )
        for name, sim in sims.items()
    }
    for client in clients.values():
        await client.start()
        await client.wait_bound(DEADLINE)
    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)

    sender = SmsSender(router, clients, clock=clock, sleep=fake_sleep)
    yield sender, sims, clients, router, clock
    for client in clients.values():
        await client.stop()
    for sim in sims.values():
        await sim.stop()


async def test_sends_on_primary(setup):
    sender, sims, clients, router, _ = setup
    sent = await sender.send("+8613800001231", "hello", "HONGYAN", reference="m")
    assert (sent.route, sent.carrier) == ("cm-a", "china_mobile")
    outcome = await asyncio.wait_for(clients["cm-a"].outcomes.get(), DEADLINE)
    assert (outcome.reference, outcome.status) == ("m", "delivered")


async def test_dead_primary_fails_over_to_backup(setup):
    sender, sims, clients, router, clock = setup
    await sims["cm-a"].stop()
    for _ in range(2):
        with pytest.raises(SmppError) as info:
            await sender.send("+8613800001231", "hello", "HONGYAN")
        assert info.value.transient
    health = {h["route"]: h for h in router.health()}
    assert health["cm-a"]["state"] == "out_of_rotation"
    sent = await sender.send("+8613800001231", "hello", "HONGYAN", reference="b")
    assert sent.route == "cm-b"
    assert (await asyncio.wait_for(clients["cm-b"].outcomes.get(), DEADLINE)).status == "delivered"


async def test_refused_message_does_not_hurt_the_route(setup):
    sender, _, _, router, _ = setup
    for _ in range(3):
        with pytest.raises(SmppError):
            await sender.send("+86abc", "hello", "HONGYAN")
    health = {h["route"]: h for h in router.health()}
    assert (health["cm-a"]["state"], health["cm-a"]["error_rate"]) == ("in_rotation", 0.0)


async def test_throttles_slow_the_route(setup):
    sender, sims, clients, router, _ = setup
    sent = await sender.send("+8613800001200", "hello", "HONGYAN")
    assert sent.route == "cm-a"
    health = {h["route"]: h for h in router.health()}
    assert health["cm-a"]["throttles"] == 2
    assert health["cm-a"]["error_rate"] == 0.0
    # The throttle pauses are not latency: the route is judged by the accepted submit_sm's
    # round trip as the client measured it.
    assert sent.result.latency > 0
    assert health["cm-a"]["latency_p90"] == round(sent.result.latency, 4)
    # The throttle pause makes the next send wait (or spill to the backup).
    choice = router.choose("china_mobile")
    assert choice.route == "cm-b" or choice.wait > 0


async def test_no_route_when_all_out(setup):
    sender, sims, _, router, _ = setup
    for sim in sims.values():
        await sim.stop()
    for _ in range(4):
        with pytest.raises((SmppError, NoRouteAvailable)):
            await sender.send("+8613800001231", "hello", "HONGYAN")
    with pytest.raises(NoRouteAvailable):
        await sender.send("+8613800001231", "hello", "HONGYAN")


def test_every_route_needs_a_client():
    router = CarrierRouter(RouterConfig(routes=(RouteSettings("x", 1),), carriers={"default": CarrierRoutes("x")}))
    with pytest.raises(ValueError, match="x"):
        SmsSender(router, {})
