"""Route health shared between processes: a dispatch process's publisher writes only on a
change (or the heartbeat), two processes' views merge per route, stale rows are ignored, a
clean stop removes its rows, and an API process (no routes of its own) answers from them."""

from __future__ import annotations

import pytest

from fallback.route_health import HealthPublisher, shared_health
from fallback.routing import CarrierRouter, CarrierRoutes, HealthPolicy, RouterConfig, RouteSettings

CONFIG = RouterConfig(
    routes=(RouteSettings("cm", 100), RouteSettings("backup", 100)),
    carriers={"china_mobile": CarrierRoutes("cm", "backup"), "default": CarrierRoutes("backup")},
    health=HealthPolicy(min_samples=2, max_error_rate=0.2, cooldown_seconds=600),
)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(settings):
    from store import open_database

    database = open_database(settings.db_url)
    yield database
    await database.dispose()


async def test_a_publisher_writes_on_change_and_heartbeat_and_readers_merge(db):
    clock, wall = Clock(), [1_800_000_000_000]
    one, two = CarrierRouter(CONFIG, clock=clock, kinds={"cm": "cmpp"}), CarrierRouter(CONFIG, clock=clock)
    first = HealthPublisher(db, one.health, "host:1", clock=clock, wall_ms=lambda: wall[0], heartbeat_s=60)
    second = HealthPublisher(db, two.health, "host:2", clock=clock, wall_ms=lambda: wall[0], heartbeat_s=60)
    assert await first.publish() and await second.publish()
    assert not await first.publish()  # nothing changed: no write
    for _ in range(3):
        one.record("cm", ok=True, latency=0.2)
        two.record("cm", ok=False, latency=0.1, error="transient: timeout")
    assert await first.publish() and await second.publish()  # changed: written

    merged = {r["route"]: r for r in await shared_health(db, now_ms=wall[0])}
    cm = merged["cm"]
    expected = {
        "state": "out_of_rotation",  # the worst of the two processes' views
        "samples": 4,  # 3 of process one, 1 of two (its window was cleared when it took the route out)
        "kind": "cmpp",
        "last_error": "transient: timeout",
        "processes": 2,
        "throttled": False,
    }
    assert {k: cm.get(k) for k in expected} == expected
    assert merged["backup"]["state"] == "in_rotation" and merged["backup"]["processes"] == 2

    clock.now += 61
    wall[0] += 200_000  # process two went quiet 200 s ago: its rows are stale
    assert await first.publish()  # the heartbeat, though nothing changed
    assert {r["route"]: r["processes"] for r in await shared_health(db, now_ms=wall[0])} == {
        "cm": 1,
        "backup": 1,
    }
    await first.stop()  # a clean stop removes its rows
    left = await shared_health(db, now_ms=wall[0] - 190_000)  # process two's rows, read while fresh
    assert sorted(r["route"] for r in left) == ["backup", "cm"] and {r["processes"] for r in left} == {1}


async def test_an_api_process_answers_from_the_shared_snapshots(db, aiohttp_client):
    import functools

    from aiohttp import web

    from api.middleware import problem_middleware
    from fallback.http import SHARED_HEALTH
    from fallback.http import routes as sms_routes

    router = CarrierRouter(CONFIG)
    publisher = HealthPublisher(db, router.health, "dispatch:1")
    await publisher.publish()
    app = web.Application(middlewares=[problem_middleware])
    app[SHARED_HEALTH] = functools.partial(shared_health, db)
    app.add_routes(sms_routes)
    client = await aiohttp_client(app)
    body = await (await client.get("/v1/sms/routes")).json()
    assert body["source"] == "shared"
    assert {r["route"]: (r["state"], r["processes"]) for r in body["data"]} == {
        "cm": ("in_rotation", 1),
        "backup": ("in_rotation", 1),
    }
    await publisher.stop()
    assert (await (await client.get("/v1/sms/routes")).json())["data"] == []
