"""The transition table, walked on a real database: every allowed transition applies (with its
event and webhook), every other is refused; and the lifecycle writer's other promises."""

from __future__ import annotations

import itertools
import time

import pytest
from sqlalchemy import func, select

from messages.lifecycle import Change, Lifecycle
from messages.status import FINAL, INITIAL, TO_SEND, TRANSITIONS, Status, allowed, may_reach
from messages.tables import message_events, messages
from server import ACCOUNTS, DATABASE, KEYRING, Wiring, create_app
from store.writer import WriteBatch
from tests.conftest import ApiClient, card
from webhooks.tables import webhook_deliveries

PAIRS = list(itertools.product(Status, Status))
LATER_MS = int(time.time() * 1000) + 3_600_000  # after the test messages were accepted


@pytest.fixture
async def api(aiohttp_client, settings) -> ApiClient:
    """The app with loopback webhook URLs allowed on PostgreSQL too (a status webhook is checked)."""
    client = await aiohttp_client(create_app(settings, Wiring(webhook_options={"allow_http": True})))
    tenant, key = await client.app[ACCOUNTS].create_tenant("Test brand")
    return ApiClient(client, tenant.id, key)


def test_every_status_has_a_row_and_the_names_are_the_apis():
    assert set(TRANSITIONS) == set(Status)
    assert {s.value for s in Status} == {
        "accepted", "scheduled", "held", "queued", "rcs_sent", "rcs_delivered", "rcs_read", "revoked",
        "fallback_pending", "sms_sent", "sms_delivered", "sms_failed", "rejected", "expired", "failed",
    }  # fmt: skip
    # Nothing leads back to a message's first status (but a held message's release, and a send
    # deferred at dispatch to its window's next opening: queued → scheduled), and every other
    # status can be reached.
    reachable = set().union(*(after for s, after in TRANSITIONS.items() if s != Status.HELD))
    assert not reachable & {Status.ACCEPTED, Status.HELD}
    assert may_reach(Status.SCHEDULED) == {Status.HELD, Status.QUEUED}
    assert TRANSITIONS[Status.HELD] == {Status.ACCEPTED, Status.SCHEDULED, Status.REJECTED, Status.REVOKED}
    assert reachable | INITIAL == set(Status) and Status.HELD in INITIAL
    assert Status.RCS_READ in FINAL and Status.QUEUED not in FINAL and TO_SEND <= set(may_reach(Status.QUEUED))


async def _messages_in(api, statuses: list[Status]) -> list[str]:
    """One message per entry, put straight into that status (the setup, not the code under test)."""
    recipients = [{"to": f"+86138{i:08d}"} for i in range(len(statuses))]
    resp = await api.post("/v1/messages", {"recipients": recipients, "card": card()})
    assert resp.status == 202, await resp.text()
    ids = [m["id"] for m in (await resp.json())["messages"]]
    db = api.client.app[DATABASE]
    async with db.write.begin() as conn:
        for mid, status in zip(ids, statuses):
            await conn.execute(messages.update().where(messages.c.id == mid).values(status=status))
    return ids


async def test_the_table_is_what_the_writer_enforces(api):
    app = api.client.app
    ids = await _messages_in(api, [current for current, _ in PAIRS])
    # A webhook endpoint, so every applied change also queues its `message.status` delivery.
    hook = await api.post("/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["message.status"]})
    assert hook.status == 201, await hook.text()
    lifecycle = Lifecycle(app[KEYRING])
    changes = [Change(mid, new, 1_000, "test") for mid, (_, new) in zip(ids, PAIRS)]
    batch = WriteBatch()
    result = lifecycle.add(batch, changes)
    await _write(app, batch)

    applied = {mid for mid, _ in result.applied}
    async with app[DATABASE].read.connect() as conn:
        rows = {r.id: r.status for r in await conn.execute(select(messages.c.id, messages.c.status))}
        query = select(message_events.c.message_id).where(message_events.c.source == "test")
        events = {r.message_id for r in await conn.execute(query)}
        hooks = (await conn.execute(select(func.count()).select_from(webhook_deliveries))).scalar_one()
    wrong = []
    for mid, (current, new) in zip(ids, PAIRS):
        should = allowed(current, new)
        if (mid in applied) != should or rows[mid] != (new if should else current) or (mid in events) != should:
            wrong.append(f"{current} → {new}: {'allowed' if should else 'refused'} by the table")
    assert not wrong, wrong
    assert len(applied) == sum(len(after) for after in TRANSITIONS.values())
    assert hooks == len(applied)  # one `message.status` webhook per applied change


async def _write(app, batch: WriteBatch) -> None:
    from messages.http import LEDGER

    await app[LEDGER].writer.write(batch)


async def test_a_late_event_is_recorded_without_moving_the_message(api):
    """An RCS delivery after the SMS went: the event is kept, the status stays."""
    app = api.client.app
    (mid,) = await _messages_in(api, [Status.SMS_SENT])
    lifecycle = Lifecycle(app[KEYRING])
    batch = WriteBatch()
    result = lifecycle.add(batch, [Change(mid, Status.RCS_DELIVERED, LATER_MS, "maap", record_anyway=True)])
    await _write(app, batch)
    assert result.applied == [] and result.skipped == [(mid, Status.RCS_DELIVERED)]
    view = await (await api.get(f"/v1/messages/{mid}")).json()
    assert view["status"] == "sms_sent"
    assert [e["type"] for e in view["events"]][-1] == "rcs_delivered"


async def test_then_runs_only_after_its_change_applied(api):
    app = api.client.app
    revokable, finished = await _messages_in(api, [Status.RCS_SENT, Status.RCS_DELIVERED])
    lifecycle = Lifecycle(app[KEYRING])
    batch = WriteBatch()
    changes = [
        Change(mid, Status.REVOKED, 3_000, "maap", then=[Change(mid, Status.FALLBACK_PENDING, 3_001, "dispatcher")])
        for mid in (revokable, finished)
    ]
    result = lifecycle.add(batch, changes)
    await _write(app, batch)
    assert result.applied == [(revokable, Status.REVOKED), (revokable, Status.FALLBACK_PENDING)]
    assert (await (await api.get(f"/v1/messages/{finished}")).json())["status"] == "rcs_delivered"


# (its status, the change, its new due time: does its frequency-cap reservation follow?)
FOLLOW_CASES = [
    pytest.param(Status.QUEUED, Status.QUEUED, True, id="an RCS retry"),
    pytest.param(Status.RCS_SENT, Status.FALLBACK_PENDING, True, id="the SMS fallback"),
    pytest.param(Status.QUEUED, Status.SCHEDULED, True, id="a deferral"),
    pytest.param(Status.HELD, Status.ACCEPTED, True, id="approved by a reviewer"),
    pytest.param(Status.QUEUED, Status.RCS_SENT, False, id="rcs_sent: looked at again, not sent again"),
]


@pytest.mark.parametrize("current,new,follows", FOLLOW_CASES)
async def test_a_reservation_follows_a_new_due_time_of_a_send(api, current, new, follows):
    from messages.send_rules import cap_sends

    app = api.client.app
    resp = await api.post("/v1/messages", {"to": "+8613812345678", "card": card(), "traffic_type": "otp"})
    assert resp.status == 202, await resp.text()
    mid = (await resp.json())["messages"][0]["id"]
    async with app[DATABASE].write.begin() as conn:
        await conn.execute(messages.update().where(messages.c.id == mid).values(status=current))
        accepted_at = (await conn.execute(select(cap_sends.c.at_ms).where(cap_sends.c.message_id == mid))).scalar()
    assert accepted_at is not None and accepted_at != LATER_MS  # reserved at accept
    batch = WriteBatch()
    Lifecycle(app[KEYRING]).add(batch, [Change(mid, new, LATER_MS - 1, "test", due_ms=LATER_MS)])
    await _write(app, batch)
    async with app[DATABASE].read.connect() as conn:
        at = (await conn.execute(select(cap_sends.c.at_ms).where(cap_sends.c.message_id == mid))).scalar()
    assert at == (LATER_MS if follows else accepted_at)


async def test_an_sms_retry_moves_its_reservation(api):
    from messages import lifecycle
    from messages.send_rules import cap_sends

    app = api.client.app
    resp = await api.post("/v1/messages", {"to": "+8613812345679", "card": card(), "traffic_type": "otp"})
    mid = (await resp.json())["messages"][0]["id"]
    pending = Status.FALLBACK_PENDING
    async with app[DATABASE].write.begin() as conn:
        await conn.execute(messages.update().where(messages.c.id == mid).values(status=pending))
    batch = WriteBatch().run(
        lambda conn: lifecycle.reschedule(conn, mid, due_ms=LATER_MS, when=frozenset({pending}), send=True)
    )
    await _write(app, batch)
    async with app[DATABASE].read.connect() as conn:
        at = (await conn.execute(select(cap_sends.c.at_ms).where(cap_sends.c.message_id == mid))).scalar()
    assert at == LATER_MS
