"""Delivering queued events to a real receiver on loopback: signed, retried, ordered, visible."""

from __future__ import annotations

import re

import orjson
import pytest
from sqlalchemy import select

import security
from server import DATABASE
from tests.webhooks.conftest import ManualClock, status_event, until
from webhooks.service import WebhookService
from webhooks.tables import webhook_deliveries, webhook_endpoints

SIGNATURE = re.compile(r"t=(\d+),v1=([0-9a-f]{64})")


def backoff_by_ten(attempt: int) -> float:
    return 10.0 * attempt


async def delivery_of(hooks, event_id: str, **expect) -> dict:
    """The delivery of `event_id` once every expected field has that value."""

    async def check():
        for d in await hooks.deliveries():
            if d["event_id"] == event_id and all(d[k] == v for k, v in expect.items()):
                return d
        return None

    return await until(check, f"delivery of {event_id} with {expect}")


async def test_signed_delivery_of_a_status_event(make_hooks):
    hooks = await make_hooks()
    endpoint = await hooks.register()
    event = status_event(hooks, "m1", "rcs_delivered", "evt-1", to="+8613800138001")
    await hooks.emit(event)

    hit = await hooks.receiver.next()
    assert hit.verified and hit.answer == 200
    header = hit.headers[security.SIGNATURE_HEADER]
    t, v1 = SIGNATURE.fullmatch(header).groups()
    assert v1 == security.sign_webhook(endpoint["secret"], hit.raw, int(t)).split("v1=")[1]
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.headers["Hongyan-Event-Id"] == "evt-1"
    assert hit.body == {
        "id": "evt-1",
        "type": "message.status",
        "created_at": hit.body["created_at"],
        "data": {
            "message_id": "m1",
            "batch_id": "bm1",
            "to": "+8613800138001",
            "status": "rcs_delivered",
            "test": False,
            "event": {"type": "rcs_delivered", "at": hit.body["created_at"], "source": "maap", "detail": {"code": 0}},
        },
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", hit.body["created_at"])

    d = await delivery_of(hooks, "evt-1", status="delivered")
    assert d["attempts"] == 1 and d["last_status"] == 200 and d["last_error"] is None
    assert d["endpoint_id"] == endpoint["id"] and d["message_id"] == "m1" and d["event_type"] == "message.status"
    assert d["next_attempt_at"] is None and d["last_attempt_at"]
    listing = orjson.dumps(await hooks.deliveries()).decode()
    assert endpoint["secret"] not in listing and "+8613800138001" not in listing


async def test_only_subscribed_types_and_endpoints_registered_before_the_event(make_hooks):
    hooks = await make_hooks()
    status_only = await hooks.register(["message.status"])
    user_event = {
        "message_id": "m1",
        "kind": "message.user_event",
        "at_ms": hooks.now_ms(),
        "event_id": "evt-u",
        "payload": {"message_id": "m1", "type": "postback", "postback": {"data": "detail"}},
    }
    await hooks.emit(user_event, status_event(hooks, "m1", "rcs_read", "evt-s"))
    hit = await hooks.receiver.next()
    assert hit.body["id"] == "evt-s"
    later = await hooks.register(["message.status", "message.user_event"])
    await hooks.emit(status_event(hooks, "m2", "rcs_sent", "evt-new"))
    got = sorted([(await hooks.receiver.next()).body["id"] for _ in range(2)])
    assert got == ["evt-new", "evt-new"]
    by_endpoint = {(d["event_id"], d["endpoint_id"]) for d in await hooks.deliveries()}
    assert by_endpoint == {("evt-s", status_only["id"]), ("evt-new", status_only["id"]), ("evt-new", later["id"])}
    assert hooks.receiver.hits.empty()


async def test_retries_with_backoff_until_accepted(make_hooks):
    clock = ManualClock()
    hooks = await make_hooks(clock, backoff=backoff_by_ten)
    await hooks.register()
    hooks.receiver.script["evt-1"] = [500, 503]
    t0 = hooks.now_ms()
    await hooks.emit(status_event(hooks, "m1", "sms_delivered", "evt-1"))

    assert (await hooks.receiver.next()).answer == 500
    d = await delivery_of(hooks, "evt-1", attempts=1)
    assert d["status"] == "pending" and d["last_status"] == 500 and d["last_error"] == "HTTP 500"
    assert d["next_attempt_at"] == _at(t0 + 10_000)

    clock.advance(10)
    hooks.service.notify()
    assert (await hooks.receiver.next()).answer == 503
    d = await delivery_of(hooks, "evt-1", attempts=2)
    assert d["next_attempt_at"] == _at(t0 + 10_000 + 20_000)

    clock.advance(19)  # not yet due: nothing is sent
    rounds = hooks.service.claim_rounds
    hooks.service.notify()
    await until(_async(lambda: hooks.service.claim_rounds > rounds + 1), "a full claim round")
    assert hooks.receiver.hits.empty()

    clock.advance(1)
    hooks.service.notify()
    hit = await hooks.receiver.next()
    assert hit.answer == 200 and hit.body["id"] == "evt-1" and hit.verified
    d = await delivery_of(hooks, "evt-1", status="delivered")
    assert d["attempts"] == 3 and d["last_status"] == 200


async def test_timeout_and_refused_connection_are_retried(make_hooks, unused_tcp_port):
    clock = ManualClock()
    hooks = await make_hooks(clock, backoff=backoff_by_ten, http_timeout=0.3)
    slow = await hooks.register(["message.status"])
    refused = await hooks.register(["message.status"], url=f"http://127.0.0.1:{unused_tcp_port}/hook")
    hooks.receiver.script["evt-1"] = ["hang"]
    await hooks.emit(status_event(hooks, "m1", "rcs_sent", "evt-1"))
    assert (await hooks.receiver.next()).answer == "hang"

    async def both_failed():
        ds = {d["endpoint_id"]: d for d in await hooks.deliveries() if d["attempts"] == 1}
        return ds if len(ds) == 2 else None

    ds = await until(both_failed, "two failed attempts")
    assert ds[slow["id"]]["last_error"] == "timed out after 0.3 s" and ds[slow["id"]]["last_status"] is None
    assert ds[refused["id"]]["last_status"] is None and "Connect" in ds[refused["id"]]["last_error"]
    assert all(d["status"] == "pending" for d in ds.values())

    clock.advance(10)
    hooks.service.notify()
    hit = await hooks.receiver.next()
    assert hit.answer == 200 and hit.body["id"] == "evt-1"
    d = await delivery_of(hooks, "evt-1", endpoint_id=slow["id"], status="delivered")
    assert d["attempts"] == 2


async def test_events_of_one_message_are_delivered_in_order(make_hooks):
    clock = ManualClock()
    hooks = await make_hooks(clock, backoff=backoff_by_ten)
    await hooks.register()
    hooks.receiver.script["a1"] = [500]
    await hooks.emit(
        status_event(hooks, "ma", "rcs_sent", "a1"),
        status_event(hooks, "ma", "rcs_delivered", "a2"),
        status_event(hooks, "mb", "rcs_sent", "b1"),
    )
    first = {(await hooks.receiver.next()).body["id"] for _ in range(2)}
    assert first == {"a1", "b1"}  # a2 waits for a1; another message is not held up
    await delivery_of(hooks, "a1", attempts=1)
    await delivery_of(hooks, "b1", status="delivered")
    rounds = hooks.service.claim_rounds
    hooks.service.notify()
    await until(_async(lambda: hooks.service.claim_rounds > rounds + 1), "a full claim round")
    assert hooks.receiver.hits.empty()
    d = await delivery_of(hooks, "a2", status="pending")
    assert d["attempts"] == 0

    clock.advance(10)
    hooks.service.notify()
    assert (await hooks.receiver.next()).body["id"] == "a1"
    assert (await hooks.receiver.next()).body["id"] == "a2"
    await delivery_of(hooks, "a2", status="delivered")


async def test_gives_up_after_max_age_and_releases_the_next_event(make_hooks):
    clock = ManualClock()
    hooks = await make_hooks(clock, backoff=lambda n: 3600.0, max_age_s=86400)
    await hooks.register()
    hooks.receiver.script["e1"] = [500] * 30
    await hooks.emit(status_event(hooks, "m1", "rcs_sent", "e1"), status_event(hooks, "m1", "rcs_read", "e2"))
    for attempt in range(1, 26):
        assert (await hooks.receiver.next()).body["id"] == "e1"
        d = await delivery_of(hooks, "e1", attempts=attempt)
        if d["status"] == "failed":
            break
        clock.advance(3600)
        hooks.service.notify()
    # Attempts ran hourly for at least 24 h before giving up.
    assert d["status"] == "failed" and d["attempts"] == 25 and d["next_attempt_at"] is None
    assert d["last_status"] == 500
    hit = await hooks.receiver.next()
    assert hit.body["id"] == "e2"
    await delivery_of(hooks, "e2", status="delivered")
    assert [x["event_id"] for x in await hooks.deliveries("status=failed")] == ["e1"]


async def test_delivery_list_filters_and_pages(make_hooks):
    hooks = await make_hooks()
    one = await hooks.register(["message.status"])
    two = await hooks.register(["message.status"])
    await hooks.emit(*[status_event(hooks, f"m{i % 3}", "rcs_sent", f"e{i}") for i in range(6)])
    for _ in range(12):
        await hooks.receiver.next()
    await until(
        _async_call(lambda: hooks.deliveries("status=delivered&limit=100"), lambda ds: len(ds) == 12), "all delivered"
    )
    seen, cursor = [], None
    while True:
        q = "limit=5" + (f"&cursor={cursor}" if cursor else "")
        page = await (await hooks.api.get(f"/v1/webhook-deliveries?{q}")).json()
        seen += [d["id"] for d in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 12 and seen == sorted(seen, reverse=True)
    assert {d["event_id"] for d in await hooks.deliveries("message_id=m1")} == {"e1", "e4"}
    only_two = await hooks.deliveries(f"endpoint_id={two['id']}")
    assert len(only_two) == 6 and {d["endpoint_id"] for d in only_two} == {two["id"]}
    assert await hooks.deliveries("status=failed") == []
    other = await hooks.api.new_tenant()
    assert await hooks.deliveries("", api=other) == []
    assert one["id"] != two["id"]


async def test_deleting_an_endpoint_cancels_its_pending_deliveries(make_hooks):
    clock = ManualClock()
    hooks = await make_hooks(clock, backoff=backoff_by_ten)
    endpoint = await hooks.register()
    hooks.receiver.script["e1"] = [500]
    await hooks.emit(status_event(hooks, "m1", "rcs_sent", "e1"))
    await hooks.receiver.next()
    await delivery_of(hooks, "e1", attempts=1)
    resp = await hooks.api.client.delete(f"/v1/webhooks/{endpoint['id']}", headers=hooks.api.auth)
    assert resp.status == 204
    d = await delivery_of(hooks, "e1", status="cancelled")
    assert d["next_attempt_at"] is None
    await hooks.emit(status_event(hooks, "m1", "rcs_read", "e2"))
    clock.advance(60)
    rounds = hooks.service.claim_rounds
    hooks.service.notify()
    await until(_async(lambda: hooks.service.claim_rounds > rounds + 1), "a full claim round")
    assert hooks.receiver.hits.empty()
    assert [d["event_id"] for d in await hooks.deliveries()] == ["e1"]


async def test_queued_payloads_and_secrets_are_sealed(make_hooks):
    clock = ManualClock()
    hooks = await make_hooks(clock, backoff=backoff_by_ten)
    endpoint = await hooks.register()
    hooks.receiver.script["e1"] = [500]
    await hooks.emit(status_event(hooks, "m1", "rcs_sent", "e1", to="+8613912345678"))
    await hooks.receiver.next()
    await delivery_of(hooks, "e1", attempts=1)
    db = hooks.api.client.app[DATABASE]
    async with db.read.connect() as conn:
        row = (await conn.execute(select(webhook_deliveries))).one()
        ep = (await conn.execute(select(webhook_endpoints))).one()
    assert b"13912345678" not in row.payload_enc and b"rcs_sent" not in row.payload_enc
    assert endpoint["secret"].encode() not in ep.secret_enc
    opened = hooks.service.keyring.open(hooks.api.tenant_id, "webhook_deliveries", "payload", row.id, row.payload_enc)
    assert orjson.loads(opened)["data"]["to"] == "+8613912345678"


async def test_survives_restart(make_hooks):
    hooks = await make_hooks()
    await hooks.register()
    first = hooks.service
    await first.stop()
    await hooks.emit(status_event(hooks, "m1", "rcs_sent", "e1"))  # committed while no sender runs
    assert hooks.receiver.hits.empty()
    again = WebhookService(first.db, first.writer, first.keyring, first.clock)
    await again.start()
    try:
        hit = await hooks.receiver.next()
        assert hit.body["id"] == "e1" and hit.verified
        await delivery_of(hooks, "e1", status="delivered")
    finally:
        await again.stop()


async def test_a_lease_left_by_a_crashed_sender_lapses(make_hooks):
    clock = ManualClock()
    hooks = await make_hooks(clock, backoff=backoff_by_ten, http_timeout=1)
    await hooks.register()
    service = hooks.service
    await service.stop()
    await hooks.emit(status_event(hooks, "m1", "rcs_sent", "e1"))
    crashed = WebhookService(service.db, service.writer, service.keyring, clock, http_timeout=1)
    claimed = await crashed._claim(10)  # claims, then "dies" before sending
    assert [c.event_id for c in claimed] == ["e1"]
    again = WebhookService(service.db, service.writer, service.keyring, clock, http_timeout=1)
    await again.start()
    try:
        clock.advance(crashed.lease_ms / 1000 + 1)  # SQLite frees leases at start; PostgreSQL waits them out
        again.notify()
        assert (await hooks.receiver.next()).body["id"] == "e1"
        await delivery_of(hooks, "e1", status="delivered")
    finally:
        await again.stop()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_senders_share_the_outbox_without_double_delivery(make_hooks):
    hooks = await make_hooks(batch_size=7)
    await hooks.register()
    other = WebhookService(hooks.service.db, hooks.service.writer, hooks.service.keyring, batch_size=7)
    await other.start()
    try:
        events = [status_event(hooks, f"m{i}", "rcs_sent", f"e{i}") for i in range(120)]
        for start in range(0, 120, 20):
            await hooks.emit(*events[start : start + 20])
            other.notify()
        got = [(await hooks.receiver.next()).body["id"] for _ in range(120)]
        assert sorted(got) == sorted(e["event_id"] for e in events)
        await until(
            _async_call(lambda: hooks.deliveries("status=delivered&limit=1000"), lambda ds: len(ds) == 120),
            "all delivered",
        )
        assert hooks.receiver.hits.empty()
        assert hooks.service.claim_rounds and other.claim_rounds
    finally:
        await other.stop()


def _at(ms: int) -> str:
    from webhooks.outbox import ms_to_rfc3339

    return ms_to_rfc3339(ms)


def _async(fn):
    async def check():
        return fn()

    return check


def _async_call(fetch, pred):
    async def check():
        return pred(await fetch())

    return check


async def test_finished_deliveries_are_purged_after_the_retention(make_hooks):
    clock = ManualClock()
    hooks = await make_hooks(clock, backoff=backoff_by_ten, retention_s=86400)
    await hooks.register()
    hooks.receiver.script["e2"] = [500]
    await hooks.emit(status_event(hooks, "m1", "rcs_sent", "e1"), status_event(hooks, "m2", "rcs_sent", "e2"))
    await hooks.receiver.next()
    await hooks.receiver.next()
    await delivery_of(hooks, "e1", status="delivered")
    await delivery_of(hooks, "e2", attempts=1)
    assert await hooks.service.purge() == 0  # nothing is old enough yet
    # Delivery ids carry the real time they were made (the purge bounds its scan by them), which
    # on a loaded machine can be a few seconds after this test's clock started: step well past.
    clock.advance(86400 + 600)
    assert await hooks.service.purge(batch=1) == 1
    # The pending one stays, however old.
    assert [d["event_id"] for d in await hooks.deliveries()] == ["e2"]


async def test_a_stuck_endpoint_does_not_hold_up_the_others(make_hooks):
    hooks = await make_hooks(per_endpoint=2, concurrency=4, http_timeout=30)
    stuck = await hooks.register(["message.status"], url=hooks.receiver.url + "?stuck")
    fine = await hooks.register(["message.user_event"], url=hooks.receiver.url + "?fine")
    events = [status_event(hooks, f"s{i}", "rcs_sent", f"s{i}") for i in range(8)]
    for e in events:
        hooks.receiver.script[e["event_id"]] = ["hang"]
    user = {
        "message_id": "u1",
        "kind": "message.user_event",
        "at_ms": hooks.now_ms(),
        "event_id": "u1",
        "payload": {"message_id": "u1", "type": "reply"},
    }
    await hooks.emit(*events, user)
    seen = []
    while "u1" not in seen:
        seen.append((await hooks.receiver.next()).body["id"])
    assert len([x for x in seen if x.startswith("s")]) <= 2  # the stuck endpoint has only its share
    await delivery_of(hooks, "u1", status="delivered", endpoint_id=fine["id"])
    hooks.receiver.release.set()
    for _ in range(8 - (len(seen) - 1)):
        await hooks.receiver.next()
    await until(
        _async_call(lambda: hooks.deliveries(f"endpoint_id={stuck['id']}&status=delivered"), lambda ds: len(ds) == 8),
        "the stuck endpoint catching up",
    )
